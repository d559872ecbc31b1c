"""The demo network loads through the public API, financing included, and loading it twice replays."""
from __future__ import annotations

from services.gateway.demo import DemoClient, load
from tests.conftest import wait_for


def test_the_demo_network_loads_its_partners_and_contracts_twice_without_change(stack):
    client = DemoClient(stack.base, stack.secret)
    coop, _member = load(client)
    assert load(client)[0] == coop  # replayed by Idempotency-Key
    board = stack.token("coop_admin", cooperative_id=coop)
    contracts = stack.call("GET", f"/cooperatives/{coop}/financing?limit=50", board).json()["items"]
    assert sorted(c["product"] for c in contracts) == ["mudharabah", "murabahah", "qardh"]
    assert {c["status"] for c in contracts} == {"current"}
    paid = {c["product"]: c["paid"] for c in contracts}
    assert paid == {"murabahah": 1_150_000, "qardh": 200_000, "mudharabah": 0}  # the profit share came first
    funded = next(c for c in contracts if c["product"] == "murabahah")
    bank = stack.token("partner", partner_id=funded["partner_id"])
    seen = stack.call("GET", f"/cooperatives/{coop}/financing", bank).json()["items"]
    assert [c["id"] for c in seen] == [funded["id"]]

    def posted() -> bool:  # the books show the financing (postings are asynchronous)
        report = stack.call("GET", f"/cooperatives/{coop}/reports/trial-balance", board).json()
        balances = {row["code"]: row["balance"] for row in report["accounts"]}
        return report["balanced"] and balances["2108"] > 0 and balances["5103"] == 50_000
    wait_for(posted, what="the demo's financing in the books")
