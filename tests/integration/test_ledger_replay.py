"""One property on the real store (few examples): after any sequence of operations, with the
projections applied live in small batches, reports balance and `shared.projection.rebuild`
gives exactly the live reports."""
from __future__ import annotations

import uuid
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ledger.domain import SavingsAccount
from services.ledger.projections import PROJECTIONS
from services.ledger.schemas import registry
from shared.eventstore import EventStore, connect
from shared.projection import ProjectionRunner, rebuild
from tests.conftest import AMQP_URI, MONGODB_URI
from tests.support.ledger_memory import MemoryLedger
from tests.unit.test_ledger_properties import COOP, MEMBERS, operations, run

REPORTS = (("trial-balance", "2025-12-31", None, None), ("trial-balance", None, "2024-03-01", "2025-06-30"),
           ("balance-sheet", "2026-06-01", None, None), ("income-statement", None, "2025-01-01", "2025-12-31"),
           ("income-statement", "2026-06-01", None, None))


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(operations, min_size=10, max_size=25))
def test_replayed_reports_equal_the_live_ones_on_the_real_store(ops):
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = connect(MONGODB_URI, name)
    try:
        store = EventStore(database, registry)
        ledger = MemoryLedger(date(2026, 6, 1), store=store, database=database)
        runner = ProjectionRunner(store, [cls() for cls in PROJECTIONS], AMQP_URI, name, batch_size=5)
        ledger.register(COOP)
        for member in MEMBERS:
            ledger.admit(COOP, member, pokok=1_000, wajib=100)
            ledger.deposit(COOP, member, "sukarela", 10_000, "2023-01-02")
        for year in (2023, 2024, 2025):
            ledger.rat(COOP, year)
        entries: list[str] = []
        for operation in ops:
            try:
                run(ledger, operation, entries)
            except Exception as error:  # noqa: BLE001 - a refused operation is part of the sequence
                assert getattr(error, "code", None), error
            runner.catch_up_once()
        while runner.catch_up_once():
            pass

        def everything() -> dict:
            return {"reports": [ledger.ledger.report(COOP, *request) for request in REPORTS],
                    "statements": [ledger.ledger.member_statement(COOP, m, "2023-01-01", "2026-06-01")
                                   for m in MEMBERS],
                    "accounts": ledger.ledger.list_accounts(COOP)}

        live = everything()
        assert all(report["balanced"] for report in live["reports"] if "balanced" in report)
        for member in MEMBERS:
            assert min(ledger.app.load(SavingsAccount, f"{COOP}:{member}").balances.values()) >= 0
        for projection in runner.projections:
            rebuild(store, projection)
        assert everything() == live
    finally:
        database.client.drop_database(name)
