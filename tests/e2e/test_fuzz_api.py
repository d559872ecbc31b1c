"""The whole HTTP API fuzzed from its own OpenAPI document (schemathesis), with a valid token of
every role: no 5xx, every answer as documented (status, content type, headers, schema), no
schema-violating request accepted, and no state change from a rejected request (no commit in any
service's store carries its request id).

Path parameters are either generated or, half the time, real ids (cooperative A, its member
m1, a posted journal entry, this fiscal year) so that requests get past 403/404 into
validation and the services. Bounded: MAX_EXAMPLES per operation; the total is printed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.gateway.openapi import document
from services.ledger.application import local_today

from .conftest import Stack, World

MAX_EXAMPLES = 25
schema = schemathesis.openapi.from_dict(document())
# every role; cooperative A's board more often, as most routes are theirs
ROLES = ["network_admin", "member_a1", "coop_admin_b", "partner", *["coop_admin_a"] * 3]
CASES: Counter[str] = Counter()


class Targets:
    """Real ids to aim at, and a token for each role."""

    def __init__(self, stack: Stack, world: World):
        world.act(world.a, world.m1, "admit")
        self.tokens = world.tokens
        today = local_today().isoformat()
        entry = stack.call("POST", f"/cooperatives/{world.a}/journal-entries", world.board_a, {
            "date": today, "memo": "fuzz target", "lines": [{"account": "1101", "debit": 1000, "credit": 0},
                                                            {"account": "4104", "debit": 0, "credit": 1000}]})
        assert entry.status_code == 201, entry.text
        self.ids = {"cooperative_id": world.a, "member_id": world.m1, "fiscal_year": today[:4],
                    "entry_id": entry.json()["id"], **financing_targets(stack, world)}
        self.stores = [stack.database(service)["commits"] for service in ("membership", "ledger", "financing")]

    def aim(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {name: self.ids.get(name, value) for name, value in parameters.items()}

    def stored_by(self, request_id: str) -> int:
        return sum(commits.count_documents({"correlation_id": request_id}) for commits in self.stores)


def financing_targets(stack: Stack, world: World) -> dict[str, str]:
    """A partner and a disbursed murabahah of m1 with a late fee, to aim the financing routes at."""
    partner = stack.call("POST", "/partners", world.admin, {"name": "Fuzz BPRS", "kind": "bprs"})
    assert partner.status_code == 201, partner.text
    terms = {"cost": 1_000_000, "margin": 100_000, "tenor_months": 6, "first_due_on": "2026-01-10",
             "late_fee": 5_000}
    contract = stack.call("POST", f"/cooperatives/{world.a}/financing", world.board_a, {
        "member_id": world.m1, "product": "murabahah", "terms": terms, "applied_on": "2026-01-02"})
    assert contract.status_code == 201, contract.text
    path = f"/cooperatives/{world.a}/financing/{contract.json()['id']}"
    for step in ("approve", "sign", "disburse"):
        assert stack.call("POST", f"{path}/{step}", world.board_a, {"date": "2026-01-03"}).status_code == 200
    assert stack.call("POST", f"{path}/payments", world.board_a, {"amount": 1, "date": "2026-01-20"}).ok
    return {"partner_id": partner.json()["id"], "contract_id": contract.json()["id"], "due_on": "2026-01-10"}


@pytest.fixture(scope="module")
def targets(stack, world) -> Targets:
    found = Targets(stack, world)
    yield found
    print(f"\n[fuzz] {sum(CASES.values())} cases over {len(CASES)} operations, {MAX_EXAMPLES} examples "
          f"at most per operation; answers {dict(sorted(STATUSES.items()))}")


STATUSES: Counter[int] = Counter()


@schema.parametrize()
@schema.given(data=st.data())
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_fuzz_the_api(case, data, stack, targets):
    role = data.draw(st.sampled_from(ROLES), label="role")
    if case.path_parameters and data.draw(st.booleans(), label="real ids"):
        case.path_parameters = targets.aim(case.path_parameters)
    headers = {"Authorization": f"Bearer {targets.tokens[role]}"}
    response = case.call(base_url=stack.base.removesuffix("/api/v1"), headers=headers, timeout=30)
    CASES[case.operation.label] += 1
    STATUSES[response.status_code] += 1
    # every check but "a schema-valid request is accepted": the API validates more than a JSON
    # schema can say (dates in an open fiscal year, `as_of` or `from`/`to`, business rules), and
    # those refusals are documented 400/422 answers, checked against their schema like any other
    case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])
    if response.status_code >= 400:
        [request_id] = response.headers["x-request-id"]
        assert targets.stored_by(request_id) == 0, f"refused ({response.status_code}) yet stored commits"
