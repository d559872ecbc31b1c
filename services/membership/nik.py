"""The NIK (KTP number) is personal data (UU PDP): where it may and may not go.

* Uniqueness is decided on a keyed hash, never on the number: a NIK claim's stream id is
  `<cooperative>:<HMAC-SHA256(key, NIK)>` and its events carry only that digest. The key comes
  from `KOPNET_NIK_KEY` (32+ random bytes in production, a k8s Secret); without it a development
  key is used and the service says so at start (`make run` only). The key must never change while
  claims exist: a new key would make every stored claim a stranger to its NIK.
* The number itself stays in membership: the member's own events keep it (the member read model
  and the answers to the cooperative's board and to the member show it), but the relay drops it
  from what it publishes on kopnet.events (`PRIVATE_FIELDS`, shared/registry.py), so no other
  service, the partner feed included, ever receives it.
* Error messages name the rule a NIK breaks, never the digits (they are logged).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os

log = logging.getLogger(__name__)

KEY_VARIABLE = "KOPNET_NIK_KEY"
DEVELOPMENT_KEY = "kopnet-dev-nik-key-change-me"
MIN_KEY_BYTES = 32
# Membership events whose stored payload keeps the NIK and whose published copy must not.
PRIVATE_FIELDS = {"MemberApplied": ("nik",), "MemberDetailsCorrected": ("nik",)}


def nik_key() -> bytes:
    return os.environ.get(KEY_VARIABLE, DEVELOPMENT_KEY).encode()


def key_problem() -> str | None:
    """Why the configured key is unfit for production (None: it is fine)."""
    key = os.environ.get(KEY_VARIABLE)
    if key is None:
        return f"{KEY_VARIABLE} is not set: NIK digests use the development key (make run only)"
    if len(key.encode()) < MIN_KEY_BYTES:
        return f"{KEY_VARIABLE} is shorter than {MIN_KEY_BYTES} bytes"
    return None


def nik_digest(nik: str) -> str:
    return hmac.new(nik_key(), nik.encode(), hashlib.sha256).hexdigest()


def claim_id(cooperative_id: str, nik: str) -> str:
    """The NIK claim's stream id: unique per cooperative and NIK, and no NIK in it."""
    return f"{cooperative_id}:{nik_digest(nik)}"


def legacy_claim_id(cooperative_id: str, nik: str) -> str:
    """Claims stored before the digest was used had the number in their id: still honoured (a NIK
    held by a live member there stays taken) and released, never claimed anew."""
    return f"{cooperative_id}:{nik}"


def warn_if_development_key() -> None:
    problem = key_problem()
    if problem:
        log.warning("%s; set %s to a random value of %d+ bytes outside development", problem, KEY_VARIABLE,
                    MIN_KEY_BYTES)
