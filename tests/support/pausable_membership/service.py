"""The membership service with an outbox relay that can be held (fault tests only).

While the file named by KOPNET_RELAY_PAUSE_FILE exists, commands are stored as usual but the
relay publishes nothing: the store holds events the broker has not seen. Killing this process
then is a crash of the relay between store and publish; the real service, started after it,
must publish the backlog exactly as stored. Run it with
`python -m shared.cli run tests.support.pausable_membership.service`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from services.membership.service import MembershipService, definition
from shared.providers import KernelProvider


class PausableKernelProvider(KernelProvider):
    def setup(self) -> None:
        super().setup()
        assert self.kernel is not None
        relay = self.kernel.relay
        pause = Path(os.environ["KOPNET_RELAY_PAUSE_FILE"])
        publish = relay.relay_pending

        def relay_pending(publisher, checkpoint: int) -> int:
            if pause.exists():
                publisher.connection.heartbeat_check()
                time.sleep(0.1)
                return checkpoint
            return publish(publisher, checkpoint)

        relay.relay_pending = relay_pending  # type: ignore[method-assign]


class PausableMembership(MembershipService):
    kernel = PausableKernelProvider(definition)


service_class = PausableMembership
