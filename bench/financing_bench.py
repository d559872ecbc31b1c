"""End to end through financing: an instalment payment over HTTP (gateway → financing, stored),
until its journal entry is in the ledger's read model (financing's books policy → the ledger's
post_entry → the ledger's projection), offered at a fixed rate like e2e_latency's deposits.

Each payment is found in the ledger by construction, not by a scan: its Idempotency-Key gives
the financing command id (the gateway derives it), the commit of that command holds the
PaymentReceived event, and the ledger's entry id is derived from that event's id (post_entry's
source). Payments go round-robin over 40 disbursed murabahah contracts, one a second each.
"""
from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

import eventlet
import requests

from services.gateway.auth import Principal
from services.gateway.idempotency import Claim, record_id
from shared.envelope import derived_id
from shared.eventstore import EventStore
from shared.projection import read_model

from .e2e_bench import Network, _today, latency_figures, measure

SERVICES = ("membership", "ledger", "financing", "gateway")
RATE, SECONDS = 20.0, 30
INSTALMENT = 100_000
MURABAHAH = {"cost": 10_000_000, "margin": 2_000_000, "tenor_months": 120, "late_fee": 10_000}


def _ledger_entry_id(financing: EventStore, cooperative_id: str, key: str) -> str | None:
    board = Principal("coop_admin", cooperative_id=cooperative_id)
    command_id = Claim(record_id(board.key, key), "").command_id
    commit = financing.find_command(command_id)
    if commit is None:
        return None
    event = next(e for e in commit.events if e.event_type == "financing.PaymentReceived")
    source_command = derived_id("ledger-source", f"{cooperative_id}:financing:{event.event_id}")
    return derived_id("ledger-entry", source_command)


def payment_latency(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    with Network(services=SERVICES) as network:
        today = _today()
        first_due_on = (date.fromisoformat(today) + timedelta(days=30)).isoformat()
        contracts = []
        for coop, token, members in [network.cooperative(10) for _ in range(4)]:
            for member in members:
                contract = network._ok("POST", f"/cooperatives/{coop}/financing", token, {
                    "member_id": member, "product": "murabahah", "applied_on": today,
                    "terms": {**MURABAHAH, "first_due_on": first_due_on}})
                for step in ("approve", "sign", "disburse"):
                    network._ok("POST", f"/cooperatives/{coop}/financing/{contract['id']}/{step}", token,
                                {"date": today})
                contracts.append((coop, token, contract["id"]))
        financing = EventStore(network.stack.database("financing"))
        entries = read_model(network.stack.database("ledger"), "ledger_journal_entries", "journal_entries")
        latencies: list[float] = []
        errors: list[str] = []

        def one(n: int) -> None:
            coop, token, contract = contracts[n % len(contracts)]
            key = str(uuid.uuid4())
            started = time.perf_counter()
            try:
                answer = requests.post(
                    f"{network.stack.base}/cooperatives/{coop}/financing/{contract}/payments",
                    json={"amount": INSTALMENT, "date": today}, timeout=10,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
            except requests.RequestException as error:
                errors.append(repr(error))
                return
            if answer.status_code != 200:
                errors.append(f"{answer.status_code} {answer.text[:120]}")
                return
            entry_id = _ledger_entry_id(financing, coop, key)
            while entry_id is None or entries.find_one({"_id": entry_id}, {"_id": 1}) is None:
                waited = time.perf_counter() - started
                if waited > 10:
                    errors.append("not in the ledger's read model after 10 s")
                    return
                eventlet.sleep(0.005 if waited < 0.2 else 0.05)
            latencies.append((time.perf_counter() - started) * 1000)

        measure(one, latencies, errors, RATE, SECONDS)
    return latency_figures("payment", "HTTP murabahah instalment payment until its journal entry is in the "
                           "ledger's read model", latencies, errors, RATE, SECONDS)


FIGURES = [("payment_latency", payment_latency)]
