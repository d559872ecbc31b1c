"""What the ledger asks other services, bounded in time.

Only one question so far: is this member admitted (membership's `member_admission`, answered
from membership's store, not a read model)? A savings command that finds no account asks it
to open the account on demand (application.Ledger.open_on_demand). nameko's RPC proxy waits
forever, so the call is cut off after `ADMISSION_LOOKUP_SECONDS`; no answer (membership down,
slow, or not deployed) means "unknown", and the command answers 404 as it did before.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.exceptions import RemoteError, UnknownService

log = logging.getLogger(__name__)

ADMISSION_LOOKUP_SECONDS = 1.5


def bounded_admission(membership: Any) -> Callable[[str, str], dict[str, Any] | None]:
    def lookup(cooperative_id: str, member_id: str) -> dict[str, Any] | None:
        try:
            with eventlet.Timeout(ADMISSION_LOOKUP_SECONDS):
                answer = membership.member_admission(cooperative_id, member_id)
        except (eventlet.Timeout, UnknownService, RemoteError) as error:
            log.warning("membership did not say whether %s is admitted: %r", member_id, error)
            return None
        return answer if isinstance(answer, dict) else None

    return lookup
