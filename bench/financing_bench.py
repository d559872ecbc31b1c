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

import eventlet
import urllib3

from services.gateway.auth import Principal
from services.gateway.idempotency import Claim, record_id
from shared.envelope import derived_id
from shared.eventstore import EventStore
from shared.projection import read_model

from .meters import CpuMeter, ReadModelWatch, latency_figures, measure
from .network import Network, _today, disbursed_murabahah

SERVICES = ("membership", "ledger", "financing", "gateway")
RATE, SECONDS = 20.0, 30
INSTALMENT = 100_000
MURABAHAH = {"cost": 10_000_000, "margin": 2_000_000, "tenor_months": 120, "late_fee": 10_000}


class PaymentEvents:
    """The PaymentReceived event of each payment, read from its contract's stream by `_id` lookups
    (the stream index), from where the last read of that contract ended: a lookup of the command id
    instead would scan the commits on FerretDB v1, once per payment, on the store being measured."""

    def __init__(self, financing: EventStore):
        self.financing = financing
        self.read_up_to: dict[str, int] = {}   # contract -> the version read so far
        self.event_of: dict[str, str] = {}     # payment id -> its PaymentReceived event id

    def event_id(self, contract_id: str, payment_id: str) -> str | None:
        if payment_id not in self.event_of:
            events = self.financing.read_stream("Contract", contract_id, self.read_up_to.get(contract_id, 0))
            for event in events:
                if event.event_type == "financing.PaymentReceived":
                    self.event_of[event.payload["payment_id"]] = event.event_id
            if events:
                last = events[-1].stream_version
                self.read_up_to[contract_id] = max(self.read_up_to.get(contract_id, 0), last)
        return self.event_of.get(payment_id)


def _ledger_entry_id(payments: PaymentEvents, cooperative_id: str, contract_id: str, key: str) -> str | None:
    """The ledger's entry of a payment: the gateway derives the financing command id from the
    Idempotency-Key, financing the payment id from the command id, and financing's books policy
    the ledger's entry id from the PaymentReceived event's id (post_entry's source)."""
    board = Principal("coop_admin", cooperative_id=cooperative_id)
    payment_id = derived_id("payment", Claim(record_id(board.key, key), "").command_id)
    event_id = payments.event_id(contract_id, payment_id)
    if event_id is None:
        return None
    source_command = derived_id("ledger-source", f"{cooperative_id}:financing:{event_id}")
    return derived_id("ledger-entry", source_command)


def payment_latency(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    with Network(services=SERVICES) as network:
        today = _today()
        contracts = [(coop, token, disbursed_murabahah(network, coop, token, member, MURABAHAH))
                     for coop, token, members in [network.cooperative(10) for _ in range(4)]
                     for member in members]
        payments = PaymentEvents(EventStore(network.stack.database("financing")))
        entries = read_model(network.stack.database("ledger"), "ledger_journal_entries", "journal_entries")
        watch = ReadModelWatch(entries)
        api = network.api()
        latencies: list[float] = []
        errors: list[str] = []

        def one(n: int) -> None:
            coop, token, contract = contracts[n % len(contracts)]
            key = str(uuid.uuid4())
            started = time.perf_counter()
            try:
                status, body = api.post(f"/cooperatives/{coop}/financing/{contract}/payments",
                                        {"amount": INSTALMENT, "date": today},
                                        {"Authorization": f"Bearer {token}", "Idempotency-Key": key})
            except urllib3.exceptions.HTTPError as error:
                errors.append(repr(error))
                return
            if status != 200:
                errors.append(f"{status} {body[:120].decode(errors='replace')}")
                return
            entry_id = _ledger_entry_id(payments, coop, contract, key)
            if entry_id is None:
                errors.append("answered 200, but no PaymentReceived in the contract's stream")
            elif watch.wait(entry_id, started + 10):
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors.append("not in the ledger's read model after 10 s")

        watcher = eventlet.spawn(watch.run)
        cpu = CpuMeter.of(network, mongodb_uri)
        measure(one, latencies, errors, RATE, SECONDS, cpu)
        watcher.kill()
    stored = len(latencies) + sum(error.startswith("not in the ledger") for error in errors)
    figures = latency_figures("payment", "HTTP murabahah instalment payment until its journal entry is in "
                              "the ledger's read model", latencies, errors, RATE, SECONDS)
    return {**figures, **cpu.figures(stored, "instalment payments stored", "cpu_ms_per_payment")}


FIGURES = [("payment_latency", payment_latency)]
