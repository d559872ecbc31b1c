"""The Feed slice's shapes (http-api.md, Feed): the feed service's own schemas (its public contract)."""
from __future__ import annotations

from marshmallow import Schema

from services.feed import schemas as feed

FeedQuery = feed.FeedQuery
FeedPage = feed.FeedPage
FeedCredentials = feed.FeedCredentials


class RotateCredentials(Schema):
    pass
