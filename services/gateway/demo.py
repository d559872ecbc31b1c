"""A small demo network, loaded through the public API (`kopnet run-all` calls `main()` once
every service is ready): four cooperatives in four regencies (one a pesantren), members in
every lifecycle state, one RAT. Every POST carries an Idempotency-Key derived from the step,
so loading it again (a second `make run` on the same data) replays instead of failing.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from services.membership.schemas import local_today
from shared.config import load_config
from shared.envelope import derived_id, new_id

from . import demo_health
from .auth import Principal, sign

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
SHU_ALLOCATION = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5,
                  "education": 3, "social": 2}


def annual_meeting(today: date) -> dict[str, Any]:
    """Last fiscal year's RAT (so the cooperative counts as RAT-compliant), held by 20 March."""
    held_on = min(today, date(today.year, 3, 20))
    return {"fiscal_year": today.year - 1, "held_on": held_on.isoformat(), "attendees": 2,
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
            body = {"name": name, "nik": str(3200000000000000 + (index + 1) * 1000 + number),
                    "phone": f"0812{index + 1:02d}{number:06d}", "joined_on": f"2023-0{number}-15"}
            step = f"{cooperative_id}:member:{number}"
            member = client.post(board, f"/cooperatives/{cooperative_id}/members", body, step)["id"]
            for action in actions:
                client.post(board, f"/cooperatives/{cooperative_id}/members/{member}/{action}", {},
                            f"{step}:{action}")
            members.append(member)
    board, rat = Principal("coop_admin", cooperative_id=ids[0]), annual_meeting(local_today())
    client.post(board, f"/cooperatives/{ids[0]}/annual-meetings", rat,
                f"{ids[0]}:rat:{rat['fiscal_year']}:{rat['held_on']}", done_already=True)
    return ids[0], members[1]


def main() -> None:
    config = load_config(CONFIG)
    address = str(config.get("WEB_SERVER_ADDRESS") or "127.0.0.1:8000")
    secret = str((config.get("GATEWAY") or {}).get("JWT_SECRET"))
    base = f"http://{address}/api/v1"
    client = DemoClient(base, secret)
    try:
        coop, member = load(client)
        regulated = demo_health.load(client)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        print(f"[demo] could not load the demo network ({error}); the services keep running", flush=True)
        return
    admin = client.token(Principal("network_admin"))
    board = client.token(Principal("coop_admin", cooperative_id=coop))
    print(f"""
[demo] kopnet API: {base}   (OpenAPI: {base}/openapi.json)
[demo] demo network loaded: 4 cooperatives, members in every state, one RAT
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
  curl -s -X POST -H "Authorization: Bearer {board}" -H "Idempotency-Key: {new_id()}" \\
       {base}/cooperatives/{coop}/members/{member}/suspend
""", flush=True)
