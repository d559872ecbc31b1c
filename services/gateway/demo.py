"""A small demo network, loaded through the public API (`kopnet run-all` calls `main()` once
every service is ready): four cooperatives in four regencies (one a pesantren), members in
every lifecycle state, one RAT, two partners and three financing contracts (a murabahah funded by
a bank, a qardh guaranteed by a jamkrida, a mudharabah with a profit report). Every POST carries
an Idempotency-Key derived from the step, so loading it again (a second `make run` on the same
data) replays instead of failing.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.membership.schemas import local_today
from shared.config import load_config
from shared.envelope import derived_id, new_id

from . import demo_health
from .auth import Principal, sign
from .demo_networking import load_networking

CONFIG = Path(__file__).with_name("config.yml")

COOPERATIVES = [
    {"name": "Koperasi Konsumen Mekar Sejahtera", "registration_number": "3204012001000101",
     "kind": "konsumen", "regency": "kabupaten-bandung", "is_pesantren": False, "founded_on": "2001-04-12"},
    {"name": "KSPPS Berkah Ummat", "registration_number": "3278022005000202", "kind": "kspps",
     "regency": "kota-tasikmalaya", "is_pesantren": False, "founded_on": "2005-09-01",
     "bylaws": {"pokok_amount": 50_000, "wajib_amount": 20_000, "quorum_percent": 50}},
    {"name": "Kopontren Al-Ikhlas", "registration_number": "3205032010000303", "kind": "produsen",
     "regency": "kabupaten-garut", "is_pesantren": True, "founded_on": "2010-02-20"},
    {"name": "Koperasi Pemasaran Kopi Java Preanger", "registration_number": "3217042015000404",
     "kind": "pemasaran", "regency": "kabupaten-bandung-barat", "is_pesantren": False,
     "founded_on": "2015-07-07"},
]
#: (name, the actions after applying) — the first cooperative has a member in every state.
LIFECYCLES = [
    ("Siti Nurhaliza", []),                                   # applied
    ("Budi Santoso", ["admit"]),                              # admitted
    ("Dewi Lestari", ["admit", "suspend"]),                   # suspended
    ("Agus Salim", ["admit", "suspend", "reinstate"]),        # admitted again
    ("Rina Marlina", ["admit", "exit"]),                      # exited
    ("Asep Sunandar", ["admit"]),
]
BANK = {"name": "Bank Syariah Jabar", "kind": "bank_syariah"}
SHU_ALLOCATION = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5,
                  "education": 3, "social": 2}


def annual_meeting(today: date, attendees: int = 2) -> dict[str, Any]:
    """Last fiscal year's RAT (so the cooperative counts as RAT-compliant), held by 20 March."""
    held_on = min(today, date(today.year, 3, 20))
    return {"fiscal_year": today.year - 1, "held_on": held_on.isoformat(), "attendees": attendees,
            "shu_allocation": SHU_ALLOCATION}


class DemoClient:
    def __init__(self, base: str, secret: str):
        self.base, self.secret = base, secret

    def token(self, principal: Principal) -> str:
        return sign(principal, self.secret)

    def post(self, principal: Principal, path: str, body: dict[str, Any], step: str,
             done_already: bool = False) -> dict[str, Any]:
        """POSTs once per step; `done_already`: a 409 means the step was done before."""
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.token(principal)}", "Content-Type": "application/json",
                     "Idempotency-Key": derived_id("gateway.demo", step)})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if done_already and error.code == 409:
                return {}
            raise RuntimeError(f"{step}: HTTP {error.code} {error.read().decode(errors='replace')}") from None


def load(client: DemoClient) -> tuple[str, str]:
    """Loads the network; answers the first cooperative's id and its admitted member Budi's id."""
    admin = Principal("network_admin")
    ids = [client.post(admin, "/cooperatives", body, f"register:{body['registration_number']}")["id"]
           for body in COOPERATIVES]
    members: list[str] = []
    for index, cooperative_id in enumerate(ids):
        board = Principal("coop_admin", cooperative_id=cooperative_id)
        for number, (name, actions) in enumerate(LIFECYCLES if index == 0 else LIFECYCLES[1:3], start=1):
            # a plausible NIK (membership checks it): Bandung, born 15 January 1985
            body = {"name": name, "nik": f"327301150{index + 1}85{number:04d}",
                    "phone": f"0812{index + 1:02d}{number:06d}", "joined_on": f"2023-0{number}-15"}
            step = f"{cooperative_id}:member:{number}"
            member = client.post(board, f"/cooperatives/{cooperative_id}/members", body, step)["id"]
            for action in actions:  # admitted when they joined: the RAT's quorum counts them then
                dated = {"date": body["joined_on"]} if action == "admit" else {}
                client.post(board, f"/cooperatives/{cooperative_id}/members/{member}/{action}", dated,
                            f"{step}:{action}:{dated.get('date', '')}")
            members.append(member)
    board = Principal("coop_admin", cooperative_id=ids[0])
    rat = annual_meeting(local_today(), attendees=4)  # of its 5 members admitted on that day
    client.post(board, f"/cooperatives/{ids[0]}/annual-meetings", rat,
                f"{ids[0]}:rat:{rat['fiscal_year']}:{rat['held_on']}", done_already=True)
    load_financing(client, ids[0], [members[1], members[3], members[5]], local_today())
    bank = client.post(admin, "/partners", BANK, "partner:bank")["id"]  # replayed: registered just above
    load_networking(client, ids, members[1], bank, local_today())
    return ids[0], members[1]


def load_financing(client: DemoClient, cooperative_id: str, members: list[str], today: date) -> None:
    """Two partners; three contracts of admitted members, applied 60 days ago and disbursed."""
    admin, board = Principal("network_admin"), Principal("coop_admin", cooperative_id=cooperative_id)
    bank = client.post(admin, "/partners", BANK, "partner:bank")["id"]
    jamkrida = client.post(admin, "/partners", {"name": "Jamkrida Jabar", "kind": "jamkrida"},
                           "partner:jamkrida")["id"]
    applied, first_due = (today - timedelta(days=60)).isoformat(), (today - timedelta(days=30)).isoformat()
    contracts = [
        (members[0], {"product": "murabahah", "partner_id": bank, "partner_share_percent": 30, "terms": {
            "cost": 12_000_000, "margin": 1_800_000, "tenor_months": 12, "first_due_on": first_due,
            "late_fee": 25_000}}),
        (members[1], {"product": "qardh", "guarantee": {"partner_id": jamkrida, "coverage_percent": 70,
                                                        "fee": 50_000},
                      "terms": {"principal": 2_000_000, "admin_fee": 15_000, "tenor_months": 10,
                                "first_due_on": first_due}}),
        (members[2], {"product": "mudharabah", "terms": {"capital": 5_000_000, "nisbah_member_percent": 65,
                                                         "tenor_months": 10, "first_due_on": first_due}}),
    ]
    base = f"/cooperatives/{cooperative_id}/financing"
    for number, (member, body) in enumerate(contracts):
        step = f"{cooperative_id}:financing:{number}"
        contract = client.post(board, base, {**body, "member_id": member, "applied_on": applied}, step)["id"]
        for action in ("approve", "sign", "disburse"):
            client.post(board, f"{base}/{contract}/{action}", {"date": applied}, f"{step}:{action}")
        if body["product"] == "mudharabah":
            client.post(board, f"{base}/{contract}/profit-reports",
                        {"period_end": first_due, "actual_profit": 1_200_000}, f"{step}:profit")
        amount = 1_150_000 if body["product"] == "murabahah" else 200_000
        client.post(board, f"{base}/{contract}/payments", {"amount": amount, "date": first_due},
                    f"{step}:payment")


def main() -> None:
    config = load_config(CONFIG)
    address = str(config.get("WEB_SERVER_ADDRESS") or "127.0.0.1:8000")
    secret = str((config.get("GATEWAY") or {}).get("JWT_SECRET"))
    base = f"http://{address}/api/v1"
    client = DemoClient(base, secret)
    try:
        coop, member = load(client)
        regulated = demo_health.load(client)
        bank = client.post(Principal("network_admin"), "/partners", BANK, "partner:bank")["id"]  # a replay
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        print(f"[demo] could not load the demo network ({error}); the services keep running", flush=True)
        return
    admin = client.token(Principal("network_admin"))
    board = client.token(Principal("coop_admin", cooperative_id=coop))
    partner = client.token(Principal("partner", partner_id=bank))
    print(f"""
[demo] kopnet API: {base}   (OpenAPI: {base}/openapi.json)
[demo] demo network loaded: 4 cooperatives, members in every state, one RAT, 2 partners, 3 contracts,
[demo] a catalog with orders and a partnership
[demo] and {demo_health.summary(regulated)}
[demo] the regulator's dashboard (the token stays in the URL's fragment, never sent to a server):
  http://{address}/dashboard/#token={admin}
[demo] a network_admin token (12 h; `kopnet token --role ROLE ...` makes others):
{admin}

  export TOKEN={admin}
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/cooperatives?regency=kabupaten-garut'
  curl -s -H "Authorization: Bearer $TOKEN" {base}/network/health
  curl -s -H "Authorization: Bearer {board}" \\
       '{base}/cooperatives/{coop}/members?status=admitted'
  curl -s -H "Authorization: Bearer {board}" '{base}/cooperatives/{coop}/financing?product=murabahah'
  # the ledger: the cooperative's books; the feed: the events the funding bank is entitled to
  curl -s -H "Authorization: Bearer {board}" {base}/cooperatives/{coop}/reports/trial-balance
  curl -s -H "Authorization: Bearer {partner}" '{base}/feed?after=0&limit=20'
  curl -s -X POST -H "Authorization: Bearer {board}" -H "Idempotency-Key: {new_id()}" \\
       {base}/cooperatives/{coop}/members/{member}/suspend
""", flush=True)
