"""A relay process that kills itself at a chosen point, for crash tests.

usage: python -m tests.support.relay_child MODE MONGODB_URI DATABASE AMQP_URI SERVICE
MODE: before_publish (events read, nothing published), after_publish (published and
confirmed, checkpoint not saved), or normal (relay until SIGTERM).
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from shared.eventstore import EventStore, connect  # noqa: E402
from shared.relay import OutboxRelay  # noqa: E402


class CrashingRelay(OutboxRelay):
    mode = "normal"

    def relay_pending(self, publisher, checkpoint):
        if self.mode == "before_publish" and self.store.read_all(after=checkpoint, limit=1):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().relay_pending(publisher, checkpoint)

    def after_publish(self, events):
        if self.mode == "after_publish":
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode, mongodb_uri, database, amqp_uri, service = sys.argv[1:6]
    relay = CrashingRelay(EventStore(connect(mongodb_uri, database)), amqp_uri, service, batch_size=20)
    relay.mode = mode
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    relay.run()


if __name__ == "__main__":
    main()
