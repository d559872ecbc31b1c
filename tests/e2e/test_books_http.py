"""Issue 15 through real HTTP (gateway → membership and ledger processes): read your own writes
across services, savings reversals, the journal, the period reports, and the member lifecycle's
new steps and errors."""

from __future__ import annotations

from services.ledger.application import local_today
from tests.conftest import wait_for
from tests.support.niks import plausible_nik

from .conftest import application, assert_error


def test_a_deposit_sent_right_after_the_admission_is_accepted(stack, world):
    """No wait between the admission's 200 and the deposit: the ledger opens the account on demand
    if the MemberAdmitted event has not reached it yet (docs/gateway.md)."""
    cooperative = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=cooperative)
    today = local_today().isoformat()
    for _ in range(3):
        member = world.apply(cooperative)["id"]
        path = f"/cooperatives/{cooperative}/members/{member}"
        assert stack.call("POST", f"{path}/admit", board).status_code == 200
        pokok = stack.call("POST", f"{path}/savings/pokok/deposits", board, {"amount": 100_000, "date": today})
        assert pokok.status_code == 201, pokok.text
        assert pokok.json()["pokok_paid"] is True
    stranger = world.apply(cooperative)["id"]  # applied, never admitted: still no savings account
    assert_error(stack.call("POST", f"/cooperatives/{cooperative}/members/{stranger}/savings/sukarela/deposits",
                            board, {"amount": 1, "date": today}), 404, "not_found")


def test_savings_reversal_journal_and_period_reports(stack, world):
    cooperative = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=cooperative)
    member = world.apply(cooperative)["id"]
    base = f"/cooperatives/{cooperative}"
    stack.call("POST", f"{base}/members/{member}/admit", board)
    today = local_today().isoformat()
    member_token = stack.token("member", cooperative_id=cooperative, member_id=member)
    wajib = stack.call("POST", f"{base}/members/{member}/savings/wajib/deposits", board,
                       {"amount": 250_000, "date": today})
    assert wajib.status_code == 201, wajib.text
    sukarela = stack.call("POST", f"{base}/members/{member}/savings/sukarela/deposits", member_token,
                          {"amount": 40_000, "date": today})
    assert sukarela.status_code == 201, sukarela.text
    tomorrow = stack.call("POST", f"{base}/members/{member}/savings/sukarela/deposits", board,
                          {"amount": 1, "date": "2999-01-01"})
    assert_error(tomorrow, 400, "validation_error")
    sale = {"date": today, "memo": "beras", "lines": [
        {"account": "1101", "debit": 9_000, "credit": 0},
        {"account": "4101", "debit": 0, "credit": 6_000, "member_id": member},
        {"account": "4101", "debit": 0, "credit": 3_000}]}
    assert stack.call("POST", f"{base}/journal-entries", board, sale).status_code == 201
    entry_id = wajib.json()["entry_id"]

    def journal(**params):
        answer = stack.call("GET", f"{base}/journal-entries", board, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    wait_for(lambda: len(journal()["items"]) == 3, what="three entries in the journal")
    reversed_ = stack.call("POST", f"{base}/journal-entries/{entry_id}/reverse", board)
    assert reversed_.status_code == 200, reversed_.text
    assert stack.call("GET", f"{base}/members/{member}/savings", board).json()["wajib"] == 0
    assert_error(stack.call("POST", f"{base}/journal-entries/{entry_id}/reverse", board), 409, "conflict")
    wait_for(lambda: len(journal()["items"]) == 4, what="the reversal in the journal")
    items = journal()["items"]
    year = today[:4]
    assert sorted(e["voucher_number"] for e in items) == [1, 2, 3, 4]
    assert all(e["voucher"].startswith(f"{year}/") for e in items)
    actors = {e["memo"]: e["actor"] for e in items}
    assert actors["simpanan sukarela deposit"] == {"role": "member", "subject": member}
    assert actors["beras"] == {"role": "coop_admin", "subject": cooperative}
    assert [e["memo"] for e in journal(member_id=member, account="3102")["items"]] == [
        "simpanan wajib deposit", f"reversal of {entry_id}"]
    page = journal(limit=3)
    assert len(page["items"]) == 3 and len(journal(limit=3, cursor=page["next"])["items"]) == 1
    assert_error(stack.call("GET", f"{base}/journal-entries", board, params={"cursor": "nope"}), 400,
                 "validation_error")

    wait_for(lambda: stack.call("GET", f"{base}/reports/income-statement", board, params={
        "from": f"{year}-01-01", "to": today}).json()["total_income"] == 9_000, what="the sale reported")
    income = stack.call("GET", f"{base}/reports/income-statement", board,
                        params={"from": f"{year}-01-01", "to": today}).json()
    assert (income["member_income"], income["non_member_income"]) == (6_000, 3_000)
    trial = stack.call("GET", f"{base}/reports/trial-balance", board,
                       params={"from": today, "to": today}).json()
    cash = next(row for row in trial["accounts"] if row["code"] == "1101")
    assert cash["closing"] == cash["opening"] + cash["debit"] - cash["credit"] == 49_000
    assert trial["balanced"]


def test_reject_exit_reason_correction_and_the_new_errors(stack, world):
    cooperative = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=cooperative)
    base = f"/cooperatives/{cooperative}/members"
    nik = plausible_nik()
    first = stack.call("POST", base, board, application(nik)).json()
    rejected = stack.call("POST", f"{base}/{first['id']}/reject", board)
    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert_error(stack.call("POST", f"{base}/{first['id']}/admit", board), 422, "illegal_transition")
    second = stack.call("POST", base, board, application(nik))  # the NIK is free again
    assert second.status_code == 201, second.text
    member = second.json()["id"]
    stack.call("POST", f"{base}/{member}/admit", board)
    other = world.apply(cooperative)
    assert_error(stack.call("PATCH", f"{base}/{member}", board, {"nik": other["nik"]}), 409, "conflict")
    fixed = stack.call("PATCH", f"{base}/{member}", board, {"name": "Siti Rahma", "phone": "081299998888"})
    assert fixed.status_code == 200 and fixed.json()["name"] == "Siti Rahma", fixed.text
    assert_error(stack.call("PATCH", f"{base}/{member}", board, {}), 400, "validation_error")
    error = assert_error(stack.call("POST", base, board, {**application("x"), "nik": "3273013202850001"}), 400,
                         "validation_error")
    assert "birth date" in error["fields"]["nik"][0]
    exited = stack.call("POST", f"{base}/{member}/exit", board, {"reason": "expelled"})
    assert (exited.status_code, exited.json()["exit_reason"]) == (200, "expelled"), exited.text
    assert_error(stack.call("POST", f"{base}/{member}/exit", board, {"reason": "bored"}), 400,
                 "validation_error")
    assert_error(stack.call("POST", f"{base}/{member}/exit", board), 422, "illegal_transition")
