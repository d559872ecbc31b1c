"""Tokens: signing, verifying, expiry, wrong key, claims per role; the `kopnet token` command."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.gateway import cli
from services.gateway.auth import DEV_SECRET, Principal, authenticate, secret_problem, sign, verify
from services.gateway.errors import ApiError

SECRET = "a-test-secret-of-at-least-32-bytes-long"
MEMBER = Principal("member", cooperative_id="c1", member_id="m1")


def test_a_signed_token_verifies_to_the_same_principal():
    for principal in [
        Principal("network_admin"),
        Principal("coop_admin", cooperative_id="c1"),
        MEMBER,
        Principal("partner", partner_id="p1"),
    ]:
        assert verify(sign(principal, SECRET), SECRET) == principal


def test_tokens_are_hs256_from_issuer_kopnet_and_last_12_hours_by_default():
    now = datetime.now(UTC).replace(microsecond=0)
    token = sign(MEMBER, SECRET, now=now)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == "kopnet"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert (claims["role"], claims["cooperative_id"], claims["member_id"]) == ("member", "c1", "m1")


def unauthenticated(token: str, secret: str = SECRET) -> str:
    with pytest.raises(ApiError) as refused:
        verify(token, secret)
    assert (refused.value.code, refused.value.status) == ("unauthenticated", 401)
    return refused.value.message


def test_an_expired_token_is_refused():
    token = sign(MEMBER, SECRET, ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2))
    assert "expired" in unauthenticated(token)


def test_a_token_signed_with_another_key_is_refused():
    unauthenticated(sign(MEMBER, "another-secret-of-at-least-32-bytes!!"))


def test_garbage_and_tampered_tokens_are_refused():
    unauthenticated("not-a-token")
    header, payload, signature = sign(MEMBER, SECRET).split(".")
    forged = jwt.encode({"role": "network_admin", "iss": "kopnet", "exp": 9999999999}, "x" * 32).split(".")[1]
    unauthenticated(".".join([header, forged, signature]))


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "coop_admin"},  # no cooperative_id
        {"role": "member", "cooperative_id": "c1"},  # no member_id
        {"role": "partner"},  # no partner_id
        {"role": "superuser"},  # no such role
        {"cooperative_id": "c1"},  # no role
    ],
)
def test_a_token_without_the_claims_its_role_needs_is_refused(claims):
    exp = datetime.now(UTC) + timedelta(hours=1)
    unauthenticated(jwt.encode({**claims, "iss": "kopnet", "exp": exp}, SECRET, algorithm="HS256"))


def test_tokens_need_an_expiry_and_the_kopnet_issuer_and_hs256():
    exp = datetime.now(UTC) + timedelta(hours=1)
    unauthenticated(jwt.encode({"role": "network_admin", "iss": "kopnet"}, SECRET, algorithm="HS256"))
    unauthenticated(
        jwt.encode({"role": "network_admin", "iss": "else", "exp": exp}, SECRET, algorithm="HS256")
    )
    unauthenticated(
        jwt.encode({"role": "network_admin", "iss": "kopnet", "exp": exp}, SECRET, algorithm="HS512")
    )
    unauthenticated(
        jwt.encode({"role": "network_admin", "iss": "kopnet", "exp": exp}, None, algorithm="none")
    )


def test_signing_refuses_a_principal_without_its_ids():
    with pytest.raises(ValueError):
        sign(Principal("member", cooperative_id="c1"), SECRET)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Token abc"])
def test_the_authorization_header_must_be_a_bearer_token(header):
    with pytest.raises(ApiError) as refused:
        authenticate(header, SECRET)
    assert refused.value.code == "unauthenticated"


def test_the_authorization_scheme_is_case_insensitive():
    assert authenticate(f"bearer {sign(MEMBER, SECRET)}", SECRET) == MEMBER


def test_the_development_secret_and_short_secrets_are_flagged():
    assert "development" in secret_problem(DEV_SECRET)
    assert "32 bytes" in secret_problem("short")
    assert secret_problem(SECRET) is None


def test_kopnet_token_prints_a_token_signed_with_the_gateways_secret(monkeypatch, capsys):
    from shared.cli import build_parser

    monkeypatch.setenv("KOPNET_JWT_SECRET", SECRET)
    args = build_parser().parse_args(
        ["token", "--role", "member", "--cooperative", "c1", "--member", "m1", "--ttl-hours", "2"]
    )
    assert args.handler(args) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert verify(token, SECRET) == MEMBER
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2 * 3600


def test_kopnet_token_without_the_secret_uses_the_development_default_and_warns(monkeypatch, capsys):
    monkeypatch.delenv("KOPNET_JWT_SECRET", raising=False)
    assert cli.configured_secret() == DEV_SECRET
    from shared.cli import build_parser

    args = build_parser().parse_args(["token", "--role", "network_admin"])
    assert args.handler(args) == 0
    out, err = capsys.readouterr()
    assert verify(out.strip().splitlines()[-1], DEV_SECRET) == Principal("network_admin")
    assert "development" in err


def test_kopnet_token_refuses_a_role_without_its_ids(capsys):
    from shared.cli import build_parser

    args = build_parser().parse_args(["token", "--role", "member", "--cooperative", "c1"])
    assert args.handler(args) == 2
    assert "--member" in capsys.readouterr().err
