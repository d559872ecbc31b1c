"""The role matrix of http-api.md (Ledger), decided from the token alone."""

import pytest

from services.gateway.routes import ROUTES
from tests.unit.test_gateway_access import A, PRINCIPALS

BOARD = {"coop_admin_a"}
BOARD_OR_MEMBER = {"coop_admin_a", "member_a1"}
#: route -> who may call it on cooperative A (and its member m1)
LEDGER_MATRIX = {
    "list_accounts": BOARD,
    "add_account": BOARD,
    "post_journal_entry": BOARD,
    "reverse_journal_entry": BOARD,
    "list_journal": {"coop_admin_a", "network_admin"},
    "pay_shu": BOARD,
    "change_account": BOARD,
    "remove_account": BOARD,
    "deposit_pokok": BOARD,
    "deposit_wajib": BOARD,
    "deposit_sukarela": BOARD_OR_MEMBER,
    "withdraw_sukarela": BOARD_OR_MEMBER,
    "get_savings": BOARD_OR_MEMBER,
    "member_statement": BOARD_OR_MEMBER,
    "trial_balance": {"coop_admin_a", "network_admin"},
    "balance_sheet": {"coop_admin_a", "network_admin"},
    "income_statement": {"coop_admin_a", "network_admin"},
    "close_fiscal_year": BOARD,
    "get_shu": {"coop_admin_a", "member_a1", "member_a2"},  # a member sees their own line only
}


def test_the_matrix_covers_every_ledger_route():
    assert set(LEDGER_MATRIX) == {name for name, route in ROUTES.items() if route.service == "ledger"}


@pytest.mark.parametrize("route", sorted(LEDGER_MATRIX))
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_ledger_role_matrix(route, who):
    ids = {"cooperative_id": A, "member_id": "m1", "entry_id": "e1", "fiscal_year": "2025", "code": "1101"}
    path = {name: ids[name] for name in ROUTES[route].path_names}
    assert ROUTES[route].allow(PRINCIPALS[who], path) is (who in LEDGER_MATRIX[route])
