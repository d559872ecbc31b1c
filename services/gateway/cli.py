"""`kopnet token`: mint an API token for an operator or a test client.

Signed with the running gateway's secret: the gateway's config.yml setting GATEWAY.JWT_SECRET,
i.e. KOPNET_JWT_SECRET from the environment, or the development default.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from shared.config import load_config

from .auth import DEV_SECRET, REQUIRED_IDS, ROLES, Principal, secret_problem, sign

CONFIG = Path(__file__).with_name("config.yml")


def configured_secret() -> str:
    return str((load_config(CONFIG).get("GATEWAY") or {}).get("JWT_SECRET") or DEV_SECRET)


def cmd_token(args: argparse.Namespace) -> int:
    values = {"cooperative_id": args.cooperative, "member_id": args.member, "partner_id": args.partner}
    missing = [name for name in REQUIRED_IDS[args.role] if not values[name]]
    if missing:
        flags = ", ".join("--" + name.removesuffix("_id") for name in missing)
        print(f"kopnet token: a {args.role} token needs {flags}", file=sys.stderr)
        return 2
    if args.ttl_hours <= 0:
        print("kopnet token: --ttl-hours must be positive", file=sys.stderr)
        return 2
    principal = Principal(args.role, **{name: values[name] for name in REQUIRED_IDS[args.role]})
    secret = configured_secret()
    problem = secret_problem(secret)
    if problem:
        print(f"kopnet token: warning: {problem}", file=sys.stderr)
    print(sign(principal, secret, timedelta(hours=args.ttl_hours)))
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("token", help="mint an API bearer token (prints it on the last line)")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--cooperative", help="cooperative id (coop_admin, member)")
    parser.add_argument("--member", help="member id (member)")
    parser.add_argument("--partner", help="partner id (partner)")
    parser.add_argument("--ttl-hours", type=float, default=12.0, help="lifetime in hours (default 12)")
    parser.set_defaults(handler=cmd_token)
