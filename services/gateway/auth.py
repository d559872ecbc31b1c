"""Who is asking: signed bearer tokens (JWT, HS256, issuer `kopnet`).

The secret comes from configuration (`KOPNET_JWT_SECRET`); the default in config.yml is a
development value for `make run` only — every real deployment sets its own secret.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from .errors import ApiError

ISSUER = "kopnet"
ALGORITHM = "HS256"
DEV_SECRET = "kopnet-dev-secret-change-me"
DEFAULT_TTL = timedelta(hours=12)
ROLES = ("network_admin", "coop_admin", "member", "partner")
#: The claims each role must carry.
REQUIRED_IDS = {
    "network_admin": (),
    "coop_admin": ("cooperative_id",),
    "member": ("cooperative_id", "member_id"),
    "partner": ("partner_id",),
}
MIN_SECRET_BYTES = 32

# PyJWT warns on every sign/verify with a key under 32 bytes; the gateway says so once at start.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


@dataclass(frozen=True)
class Principal:
    role: str
    cooperative_id: str | None = None
    member_id: str | None = None
    partner_id: str | None = None

    @property
    def key(self) -> str:
        """A stable name for this principal (idempotency records are kept per principal)."""
        return "|".join([self.role, self.cooperative_id or "", self.member_id or "", self.partner_id or ""])

    def claims(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if value is not None}


def secret_problem(secret: str) -> str | None:
    """Why `secret` must not sign production tokens, if it must not."""
    if secret == DEV_SECRET:
        return "KOPNET_JWT_SECRET is not set: tokens use the development secret (make run only)"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"KOPNET_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def principal_from(claims: dict[str, Any]) -> Principal:
    role = claims.get("role")
    if role not in REQUIRED_IDS:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    values = {}
    for name in REQUIRED_IDS[role]:
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"a {role} token needs {name}")
        values[name] = value
    return Principal(role, **values)


def sign(principal: Principal, secret: str, ttl: timedelta = DEFAULT_TTL,
         now: datetime | None = None) -> str:
    principal_from(principal.claims())  # refuses a principal without the ids its role needs
    issued = now or datetime.now(UTC)
    claims = {**principal.claims(), "iss": ISSUER, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(token: str, secret: str) -> Principal:
    """The principal a valid token names; ApiError `unauthenticated` for anything else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iss", "role"], "verify_iat": False})
        return principal_from(claims)
    except jwt.ExpiredSignatureError:
        raise ApiError("unauthenticated", "the token has expired; get a new one") from None
    except (jwt.InvalidTokenError, ValueError) as error:
        raise ApiError("unauthenticated", f"the token is not valid ({error})") from None


def authenticate(header: str | None, secret: str) -> Principal:
    if not header:
        raise ApiError("unauthenticated", "send Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthenticated", "the Authorization header must be 'Bearer <token>'")
    return verify(token.strip(), secret)
