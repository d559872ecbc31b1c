"""Reactions to membership events: books open on registration and take no entries after the
dissolution, savings accounts open on admission and are settled on exit, RAT resolutions are
recorded (and corrected) for the year-end close.

One subscription (one queue) for all six, so they are handled in membership's store order;
each is applied once (the kernel's processed marks and derived command ids)."""
from __future__ import annotations

from shared.consumer import Subscription
from shared.kernel import Kernel

from .application import Ledger

MEMBERSHIP_EVENTS = ["membership.CooperativeRegistered", "membership.CooperativeDissolved",
                     "membership.MemberAdmitted", "membership.MemberExited", "membership.AnnualMeetingHeld",
                     "membership.AnnualMeetingCorrected"]


def membership_policy(kernel: Kernel) -> Subscription:
    ledger = Ledger(kernel.application, kernel.database)
    return Subscription("membership-events", MEMBERSHIP_EVENTS, ledger.on_membership_event)
