"""Projections: read models built from the service's own events, in store order.

One module, one role: `read_models` (what a projection is, where readers find it), `view`
(the documents a batch sees and their fenced writes), `projection_runner` (the single active
runner) and `rebuild` (a fresh generation from the history). This module keeps the import
path services use.
"""
from __future__ import annotations

from .projection_runner import GENERATIONS_TTL, ProjectionRunner
from .read_models import META, Projection, ReadModel, create_indexes, documents, generation, read_model
from .rebuild import rebuild
from .view import View, apply_events, store_changes

__all__ = ["GENERATIONS_TTL", "META", "Projection", "ProjectionRunner", "ReadModel", "View", "apply_events",
           "create_indexes", "documents", "generation", "read_model", "rebuild", "store_changes"]
