"""Re-delivering a range of stored events to one subscription queue (an operator's repair).

For events a subscription missed (its queue did not exist when they were published, an event
the relay could not publish and that is fixed now, a parked effect undone by hand): the events
of the store with positions in (after, upto] whose type the subscription binds are published
straight to its queue, persistent and confirmed. Handlers are once-per-event (processed marks,
command ids derived from the event), so re-delivering what was already applied changes nothing.
An internal event type (shared/registry.py) is never sent, as the relay never publishes it.
"""
from __future__ import annotations

from .broker import ConfirmedPublisher, connect, event_message
from .eventstore import EventStore
from .topology import QueueSpec


def redeliver(store: EventStore, amqp_uri: str, spec: QueueSpec, after: int, upto: int | None = None,
              batch_size: int = 500) -> int:
    """Publishes the matching events in (after, upto] to `spec.queue`; returns how many."""
    connection = connect(amqp_uri)
    sent = 0
    try:
        publisher = ConfirmedPublisher(connection)
        spec.declare(publisher.channel)
        batch = []
        for event in store.iterate_all(after=after):
            if upto is not None and event.position > upto:
                break
            if spec.routes(event.event_type) and (store.registry is None
                                                  or store.registry.leaves_service(event.event_type)):
                # what the relay would publish: without the private fields (shared/registry.py)
                public = store.registry.published(event) if store.registry else event
                batch.append(("", spec.queue, event_message(public)))
            if len(batch) >= batch_size:
                publisher.publish_all(batch)
                sent, batch = sent + len(batch), []
        publisher.publish_all(batch)
        return sent + len(batch)
    finally:
        connection.release()
