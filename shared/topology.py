"""RabbitMQ topology of subscriptions, declared from one list before any relay publishes.

RabbitMQ drops a message that no queue is bound for. A relay publishes as soon as its service
starts, possibly before a consuming service ever ran (first deploy, a new binding), so every
relay declares the queues and bindings of *every* subscription first, from one declared list
(deploy/topology.yml, or KOPNET_TOPOLOGY): an event stored before its consumer started waits
in that consumer's queue. A service's own subscriptions must match the list (Kernel checks),
so the list cannot silently fall behind the code.

Per subscription `<queue>`: the queue and its bindings to `kopnet.events`; one retry queue per
delay, `<queue>.retry.<ms>` with that TTL, dead-lettering back to `<queue>` (a queue-level TTL:
a message expires at the head of its queue, so a 1 s retry never waits behind a 60 s one);
and `<queue>.parked` for what an operator must look at. A queue declared `single_active` lets
one consumer at a time take its messages (RabbitMQ's single active consumer; the others stand
by): its messages are handled one after another in queue order across all replicas, which a
barrier (consumer.py) relies on. RabbitMQ refuses to change that on an existing queue, so a
subscription that turns it on takes a new queue name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .broker import EVENTS_EXCHANGE, declare_events_exchange

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "deploy" / "topology.yml"


@dataclass(frozen=True)
class QueueSpec:
    queue: str
    bindings: tuple[str, ...]
    delays: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)
    single_active: bool = False

    def retry_queue(self, delay: float) -> str:
        return f"{self.queue}.retry.{int(delay * 1000)}"

    @property
    def parked(self) -> str:
        return f"{self.queue}.parked"

    def declare(self, channel) -> None:
        arguments = {"x-single-active-consumer": True} if self.single_active else None
        channel.queue_declare(self.queue, durable=True, auto_delete=False, arguments=arguments)
        for binding in self.bindings:
            channel.queue_bind(self.queue, EVENTS_EXCHANGE, binding)
        for delay in sorted(set(self.delays)):
            channel.queue_declare(self.retry_queue(delay), durable=True, auto_delete=False, arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue,
                "x-message-ttl": int(delay * 1000)})
        channel.queue_declare(self.parked, durable=True, auto_delete=False)

    def routes(self, event_type: str) -> bool:
        return any(matches(binding, event_type) for binding in self.bindings)


def matches(binding: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` zero or more."""
    def match(pattern: list[str], words: list[str]) -> bool:
        if not pattern:
            return not words
        if pattern[0] == "#":
            return any(match(pattern[1:], words[i:]) for i in range(len(words) + 1))
        return bool(words) and pattern[0] in ("*", words[0]) and match(pattern[1:], words[1:])
    return match(binding.split("."), routing_key.split("."))


def declared(path: str | Path | None = None) -> list[QueueSpec]:
    """The declared list (deploy/topology.yml unless KOPNET_TOPOLOGY names another file)."""
    source = Path(path or os.environ.get("KOPNET_TOPOLOGY") or DEFAULT_PATH)
    if not source.exists():
        return []
    entries = (yaml.safe_load(source.read_text()) or {}).get("subscriptions") or []
    return [QueueSpec(e["queue"], tuple(e["bindings"]),
                      tuple(float(d) for d in e.get("delays", QueueSpec.delays)),
                      bool(e.get("single_active", False))) for e in entries]


def declare_all(channel, specs: list[QueueSpec]) -> None:
    declare_events_exchange(channel)
    for spec in specs:
        spec.declare(channel)


def mismatches(own: list[QueueSpec], listed: list[QueueSpec]) -> list[str]:
    """What in a service's own subscriptions the declared list lacks or declares differently."""
    by_queue = {spec.queue: spec for spec in listed}
    problems = []
    for spec in own:
        other = by_queue.get(spec.queue)
        same = other is not None and (set(other.bindings), set(other.delays), other.single_active) == (
            set(spec.bindings), set(spec.delays), spec.single_active)
        if not same:
            problems.append(f"{spec.queue}: declared {other}, the service has {spec}")
    return problems
