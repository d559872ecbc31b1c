"""The feed keeps no read models: a partner's feed is read straight from the feed store
(feedstore.py: gap-free positions read by `_id`), which is what its queue is relayed from, so the
replay can never lag behind or differ from the queue. Entitlements are aggregates (domain.py),
read fresh where they decide."""
from __future__ import annotations

from shared.projection import Projection

PROJECTIONS: tuple[type[Projection], ...] = ()
