"""Faults under a steady stream of commands through the gateway, then: nothing lost, nothing twice.

One run, one stream (tests/faults/workload.py, 10 commands/s), six faults in turn with the
stream running: kill -9 membership and restart it; the same for the ledger; kill RabbitMQ and
restart it; kill the store and restart it; kill the membership relay while the store holds
events it has not published; kill the feed while its store holds a partner's entries it has not
published (partner_feed.py). After the stream stops and the network settles, every command the
client got a 2xx for has exactly one stored effect; every event reached each consumer and each
read model exactly once; every cooperative's trial balance is balanced and every savings
balance is its deposits minus its withdrawals; the partner's queue and GET /feed hold every
event it is entitled to once, at the same gap-free positions; every failed attempt was a 503/409 in the error
format, and a command that never succeeded left nothing behind.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from services.ledger.application import local_today
from services.ledger.policies import MEMBERSHIP_EVENTS
from services.membership.projections import DIRECTORY, MEMBER_LIST
from shared.checkpoints import Checkpoints
from shared.envelope import derived_id
from shared.projection import read_model
from tests.conftest import wait_for
from tests.e2e.conftest import World

from .conftest import FaultStack, infra
from .orders import OrderStream
from .partner_feed import PartnerFeed
from .workload import Command, Workload

VARIANT = "tests.support.pausable_membership.service"
STEADY = 3.0  # seconds of undisturbed stream between faults


def test_no_loss_and_no_duplicate_through_faults(stack: FaultStack):
    world = World(stack)
    ready = [(world.a, world.m1), (world.a, world.m2), (world.b, world.b1)]
    for cooperative, member in ready:
        world.act(cooperative, member, "admit")
    for cooperative, member in ready:
        token = stack.token("coop_admin", cooperative_id=cooperative)
        wait_for(lambda c=cooperative, m=member, t=token: stack.call(
            "GET", f"/cooperatives/{c}/members/{m}/savings", t).status_code == 200,
            what="savings accounts open")
    partner = PartnerFeed(stack)  # funds one contract: each payment on it is the partner's event
    funded = financing_contract(stack, world.a, world.m1, **partner.funding)
    partner.contract = funded[1]
    workload = Workload(stack, [world.a, world.b], ready, contracts=[
        funded, financing_contract(stack, world.b, world.b1)])
    # orders walked through their steps beside the workload (tests/faults/orders.py): two B2C
    # buyers of cooperative a, one with savings enough for every order, one with none
    rich, poor = world.apply(world.a)["id"], world.apply(world.a)["id"]
    for member in (rich, poor):
        world.act(world.a, member, "admit")
    orders = OrderStream(stack, workload, world.a, world.b, rich, poor)
    orders.fund(rich, 5_000_000)
    orders.fund(poor, 0)
    timeline: list[tuple[str, float, float]] = []

    def fault(name: str, inject: Callable[[], None]) -> None:
        time.sleep(STEADY)
        stack.running("membership", "ledger", "gateway")
        started = time.monotonic()
        print(f"\n[faults] {name} ...", flush=True)
        try:
            inject()
        finally:
            timeline.append((name, started, time.monotonic()))

    stack.supervise()
    workload.start()
    orders.start()
    try:
        fault("kill -9 membership, restart", lambda: restart_killed(stack, "membership"))
        fault("kill -9 ledger, restart", lambda: restart_killed(stack, "ledger"))
        fault("kill RabbitMQ, restart", lambda: infra("restart-rabbitmq", "--kill"))
        fault("kill the store, restart", lambda: infra("restart-store", "--kill"))
        fault("kill the relay between store and publish", lambda: kill_relay_with_backlog(stack))
        fault("kill the feed between store and publish", partner.kill_between_store_and_publish)
        time.sleep(STEADY)
        stack.running("membership", "ledger", "gateway")
    finally:
        workload.stop()
        orders.stop()
        report(workload, timeline)
        print(f"[faults] orders: {dict(Counter(o['flow'] for o in orders.orders))}", flush=True)
        print(f"[faults] service processes that exited by themselves and were restarted: {stack.restarts}",
              flush=True)
    assert_answers(workload)
    assert_answers(SimpleNamespace(commands=orders.commands()))  # type: ignore[arg-type]
    settled = Verifier(stack, workload)
    deadline = time.monotonic() + 90
    while True:  # read models and consumers catch up after the last fault
        problems = settled.problems() + partner.problems() + orders.problems()
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert not problems, "after recovery:\n  " + "\n  ".join(problems[:40])
    print(f"[faults] verified: {settled.summary} {partner.summary}", flush=True)


def financing_contract(stack: FaultStack, cooperative: str, member: str, **funding: Any) -> tuple[str, str]:
    """A disbursed murabahah owing far more than the workload pays (no payment is an over-payment)."""
    token = stack.token("coop_admin", cooperative_id=cooperative)
    first_due = (local_today() + timedelta(days=40)).isoformat()
    answer = stack.call("POST", f"/cooperatives/{cooperative}/financing", token, {
        "member_id": member, "product": "murabahah", "terms": {
            "cost": 900_000_000, "margin": 90_000_000, "tenor_months": 12, "first_due_on": first_due,
            "late_fee": 10_000}, **funding})
    assert answer.status_code == 201, answer.text
    contract = answer.json()["id"]
    for step in ("approve", "sign", "disburse"):
        assert stack.call("POST", f"/cooperatives/{cooperative}/financing/{contract}/{step}", token).ok
    return cooperative, contract


# -- faults -------------------------------------------------------------------------------------
def restart_killed(stack: FaultStack, name: str) -> None:
    stack.kill(name)
    time.sleep(1.0)
    stack.start(name)


def kill_relay_with_backlog(stack: FaultStack) -> None:
    """Membership with its relay held: commands are stored, nothing is published. Once the store
    holds unpublished events (a MemberAdmitted among them, which the ledger must see), kill -9 it
    and start the real service, whose relay must publish the backlog."""
    pause = stack.env["KOPNET_RELAY_PAUSE_FILE"]
    open(pause, "w").close()
    stack.kill("membership")
    stack.start(VARIANT)
    database = stack.database("membership")

    def unpublished() -> list[str]:
        relayed = Checkpoints(database).load("relay")
        return [event["event_type"] for commit in database["commits"].find({"end": {"$gt": relayed}})
                for event in commit["events"]]

    backlog = wait_for(lambda: (lambda found: found if len(found) >= 5 and
                                "membership.MemberAdmitted" in found else None)(unpublished()),
                       timeout=60, interval=0.2, what="stored but unpublished events")
    print(f"[faults] {len(backlog)} events stored and not published: {dict(Counter(backlog))}", flush=True)
    stack.kill(VARIANT)
    os.unlink(pause)
    stack.start("membership")


# -- what the client saw ------------------------------------------------------------------------
def report(workload: Workload, timeline: list[tuple[str, float, float]]) -> None:
    counts = workload.counts()
    print(f"\n[faults] counts: accepted={counts['accepted']} failed={counts['failed_attempts']} "
          f"recovered={counts['recovered']} (of {counts['commands']} commands; gave up "
          f"{counts['gave_up']}, refused {counts['refused']})", flush=True)
    by_kind = Counter((c.kind, "ok" if c.succeeded else "not ok") for c in workload.commands)
    print(f"[faults] by kind: {dict(sorted(by_kind.items()))}", flush=True)
    for name, started, ended in timeline:
        failed = [a for c in workload.commands for a in c.failed_attempts
                  if started - 1 <= a.at <= ended + 10]
        statuses = Counter(a.status for a in failed)
        print(f"[faults]   {name}: {ended - started:.1f}s, failed attempts around it {dict(statuses)}",
              flush=True)
        reasons = Counter(_reason(a.body) for a in failed)
        for reason, count in reasons.most_common(4):
            print(f"[faults]     {count} x {reason}", flush=True)


def _reason(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]["message"][:110]
    return str(body)[:110]


def assert_answers(workload: Workload) -> None:
    unclear = [(c.kind, a.status, a.body) for c in workload.commands for a in c.failed_attempts
               if not a.well_formed_error]
    assert not unclear, f"failures that were not a 503/409 in the error format: {unclear[:10]}"
    refused = [(c.kind, c.path, c.status, c.answer) for c in workload.commands
               if c.status is not None and not c.succeeded]
    assert not refused, f"commands refused for good (none should be): {refused[:10]}"


# -- what the network holds ---------------------------------------------------------------------
class Verifier:
    """Compares the client's record with the stores, the consumers' marks and the read models."""

    def __init__(self, stack: FaultStack, workload: Workload):
        self.stack = stack
        self.workload = workload
        self.summary: dict[str, int] = {}

    def problems(self) -> list[str]:
        found: list[str] = []
        membership = self.stack.database("membership")
        ledger = self.stack.database("ledger")
        m_commits = list(membership["commits"].find({"end": {"$gte": 1}}))  # not the stream index entries
        l_commits = list(ledger["commits"].find({"end": {"$gte": 1}}))
        m_events = [(c, e) for c in m_commits for e in c["events"]]
        l_events = [(c, e) for c in l_commits for e in c["events"]]
        found += self._commands(m_commits, l_commits, m_events, l_events)
        found += self._membership_read_models(membership, m_events)
        found += self._ledger_consumers(membership, ledger, m_events, l_events)
        found += self._ledger_read_models(ledger, l_events)
        found += self._books_and_savings(l_events)
        found += self._financing_postings(l_events)
        self.summary.update(membership_events=len(m_events), ledger_events=len(l_events),
                            membership_commits=len(m_commits), ledger_commits=len(l_commits))
        return found

    # every command the client got a 2xx for: exactly one effect; the others: none at all
    def _commands(self, m_commits, l_commits, m_events, l_events) -> list[str]:
        found = []
        f_commits = list(self.stack.database("financing")["commits"].find({"end": {"$gte": 1}}))
        by_command = Counter(c["command_id"] for c in [*m_commits, *l_commits, *f_commits])
        applied = Counter(e["payload"]["nik"] for _c, e in of_type(m_events, "membership.MemberApplied"))
        admitted = Counter(c["stream_id"] for c, _e in of_type(m_events, "membership.MemberAdmitted"))
        registered = Counter(e["payload"]["registration_number"]
                             for _c, e in of_type(m_events, "membership.CooperativeRegistered"))
        moved = {c["command_id"]: e for c, e in l_events
                 if e["event_type"] in ("ledger.SavingsDeposited", "ledger.SavingsWithdrawn")}
        for command in self.workload.commands:
            ids = own_command_ids(command)
            stored = sum(by_command[i] for i in ids)
            if not command.succeeded:
                if stored:
                    found.append(f"{command.kind} {command.key} never succeeded but stored {stored} commits")
                continue
            if by_command[command.command_id] != 1:
                found.append(f"{command.kind} {command.key}: {by_command[command.command_id]} commits")
            if command.kind == "apply" and applied[command.body["nik"]] != 1:  # type: ignore[index]
                found.append(f"apply {command.key}: {applied[command.body['nik']]} MemberApplied")  # type: ignore[index]
            elif command.kind == "admit" and admitted[command.member_id] != 1:
                found.append(f"admit {command.member_id}: {admitted[command.member_id]} MemberAdmitted")
            elif command.kind == "register" and registered[command.body["registration_number"]] != 1:  # type: ignore[index]
                found.append(f"register {command.key}: not exactly one CooperativeRegistered")
            elif command.kind in ("deposit", "withdraw"):
                event = moved.get(command.command_id)
                if event is None or event["payload"]["amount"] != command.amount:
                    found.append(f"{command.kind} {command.key}: stored {event and event['payload']}")
        # an attempt answered 503/409 changed nothing, unless its command went on to succeed
        # (then it is that command's one effect, which the client's retry was answered with)
        failed_ids = {a.request_id: c for c in self.workload.commands for a in c.failed_attempts}
        ambiguous = 0
        for commit in [*m_commits, *l_commits, *f_commits]:
            command = failed_ids.get(commit["correlation_id"])
            if command is None:
                continue
            if not command.succeeded:
                found.append(f"{command.kind} {command.key}: a failed attempt stored {commit['command_id']}")
            ambiguous += 1
        self.summary["stored_by_an_attempt_answered_503"] = ambiguous
        return found

    def _financing_postings(self, l_events) -> list[str]:
        """Every accepted payment: one PaymentReceived, and exactly one ledger posting of it."""
        found = []
        financing = self.stack.database("financing")["commits"].find({"end": {"$gte": 1}})
        received = {c["command_id"]: e for c in financing for e in c["events"]
                    if e["event_type"] == "financing.PaymentReceived"}
        posted = Counter(e["payload"]["source"]["id"] for _c, e in of_type(l_events, "ledger.JournalEntryPosted")
                         if (e["payload"]["source"] or {}).get("service") == "financing")
        paid = [c for c in self.workload.commands if c.kind == "pay" and c.succeeded]
        for command in paid:
            event = received.get(command.command_id)
            if event is None or event["payload"]["amount"] != command.amount:
                found.append(f"pay {command.key}: stored {event and event['payload']['amount']}")
            elif posted[event["event_id"]] != 1:
                found.append(f"pay {command.key}: {posted[event['event_id']]} ledger postings")
        self.summary["payments_checked"] = len(paid)
        return found

    def _membership_read_models(self, membership, m_events) -> list[str]:
        found = []
        status: dict[str, tuple[str, str]] = {}
        names = {"MemberApplied": "applied", "MemberAdmitted": "admitted", "MemberSuspended": "suspended",
                 "MemberReinstated": "admitted", "MemberExited": "exited"}
        for commit, event in sorted(m_events, key=lambda ce: (ce[0]["position"], ce[1]["stream_version"])):
            name = event["event_type"].split(".", 1)[1]
            if commit["stream_type"] == "Member" and name in names:
                status[commit["stream_id"]] = (commit["cooperative_id"], names[name])
        listed = {doc["_id"]: doc["status"] for doc in read_model(membership, MEMBER_LIST, "members").find()}
        if listed != {member: state for member, (_coop, state) in status.items()}:
            missing = set(status) - set(listed)
            wrong = {m for m in set(listed) & set(status) if listed[m] != status[m][1]}
            found.append(f"member list: {len(listed)} members, store {len(status)}; missing {len(missing)}, "
                         f"extra {len(set(listed) - set(status))}, wrong status {len(wrong)}")
        admitted = Counter(coop for coop, state in status.values() if state == "admitted")
        for doc in read_model(membership, DIRECTORY, "cooperatives").find():
            if doc["admitted_members"] != admitted[doc["_id"]]:
                found.append(f"directory: {doc['_id']} counts {doc['admitted_members']} admitted, "
                             f"store {admitted[doc['_id']]}")
        return found

    def _ledger_consumers(self, membership, ledger, m_events, l_events) -> list[str]:
        found = []
        wanted = {e["event_id"] for _c, e in m_events if e["event_type"] in MEMBERSHIP_EVENTS}
        marks = {doc["_id"].split(":", 1)[1] for doc in ledger["processed"].find()
                 if doc["_id"].startswith("membership-events:")}
        if marks != wanted:
            found.append(f"ledger consumed {len(marks & wanted)} of {len(wanted)} membership events "
                         f"(+{len(marks - wanted)} unknown)")
        admitted = Counter(f"{c['cooperative_id']}:{c['stream_id']}" for c, e in m_events
                           if e["event_type"] == "membership.MemberAdmitted")
        opened = Counter(c["stream_id"] for c, _e in of_type(l_events, "ledger.SavingsAccountOpened"))
        if opened != admitted:
            found.append(f"savings accounts: {sum(opened.values())} opened for {sum(admitted.values())} "
                         f"admissions; twice {[k for k, n in opened.items() if n > 1][:3]}, "
                         f"missing {len(set(admitted) - set(opened))}")
        registered = Counter(c["stream_id"] for c, e in m_events
                             if e["event_type"] == "membership.CooperativeRegistered")
        books = Counter(c["stream_id"] for c, e in l_events if e["event_type"] == "ledger.BooksOpened")
        if books != registered:
            found.append(f"books: {sum(books.values())} opened for {sum(registered.values())} registrations")
        # and the other way: membership's health policy (no processed marks: idempotent by its
        # command ids) recorded each ledger posting on the cooperative's HealthRecord exactly once
        posted = Counter((commit["cooperative_id"], event["payload"]["entry_id"])
                         for commit, event in of_type(l_events, "ledger.JournalEntryPosted")
                         if commit["cooperative_id"])
        recorded = Counter((commit["stream_id"], event["payload"]["entry_id"])
                           for commit, event in of_type(m_events, "membership.HealthPostingRecorded"))
        if recorded != posted:
            twice = [key for key, n in recorded.items() if n > 1][:3]
            found.append(f"health postings: {sum(recorded.values())} recorded for {sum(posted.values())} "
                         f"ledger postings; twice {twice}, missing {len(set(posted) - set(recorded))}")
        return found

    def _ledger_read_models(self, ledger, l_events) -> list[str]:
        found = []
        posted = [e for _c, e in l_events if e["event_type"] == "ledger.JournalEntryPosted"]
        entries = read_model(ledger, "ledger_journal_entries", "journal_entries").count_documents({})
        if entries != len(posted):
            found.append(f"journal entries read model: {entries}, store {len(posted)}")
        totals: Counter[tuple[str, str]] = Counter()
        for event in posted:
            for line in event["payload"]["lines"]:
                key = (event["payload"]["cooperative_id"], line["account"])
                totals[key + ("debit",)] += line["debit"]  # type: ignore[operator]
                totals[key + ("credit",)] += line["credit"]  # type: ignore[operator]
        projected: Counter[tuple[str, str]] = Counter()
        for day in read_model(ledger, "ledger_journal_days", "journal_days").find():
            for bucket in (day["totals"], day["closing"]):
                for account, (debit, credit) in bucket.items():
                    projected[(day["cooperative_id"], account, "debit")] += debit  # type: ignore[operator]
                    projected[(day["cooperative_id"], account, "credit")] += credit  # type: ignore[operator]
        if +projected != +totals:
            found.append("journal days read model totals differ from the store's entries")
        movements = len(of_type(l_events, "ledger.SavingsDeposited", "ledger.SavingsWithdrawn"))
        projected_movements = read_model(ledger, "ledger_member_movements", "member_movements"
                                         ).count_documents({"movement": {"$in": ["deposit", "withdrawal"]}})
        if projected_movements != movements:
            found.append(f"member movements read model: {projected_movements}, store {movements}")
        return found

    def _books_and_savings(self, l_events) -> list[str]:
        found = []
        stored: Counter[tuple[str, str]] = Counter()
        for _commit, event in l_events:
            if event["event_type"] == "ledger.SavingsDeposited" and event["payload"]["kind"] == "sukarela":
                stored[(event["payload"]["cooperative_id"], event["payload"]["member_id"])] += \
                    event["payload"]["amount"]
            elif event["event_type"] == "ledger.SavingsWithdrawn":
                stored[(event["payload"]["cooperative_id"], event["payload"]["member_id"])] -= \
                    event["payload"]["amount"]
        for (cooperative, member), expected in self.workload.balance.items():
            token = self.stack.token("coop_admin", cooperative_id=cooperative)
            savings = self.stack.call("GET", f"/cooperatives/{cooperative}/members/{member}/savings", token)
            if savings.status_code != 200 or savings.json()["sukarela"] != expected:
                found.append(f"savings of {member}: {savings.status_code} {savings.text[:200]}, "
                             f"deposits - withdrawals = {expected}")
            if stored[(cooperative, member)] != expected:
                found.append(f"store's sukarela movements of {member}: {stored[(cooperative, member)]}, "
                             f"expected {expected}")
        cooperatives = {c["cooperative_id"] for c, e in l_events if e["event_type"] == "ledger.BooksOpened"}
        for cooperative in sorted(cooperatives):
            token = self.stack.token("coop_admin", cooperative_id=cooperative)
            answer = self.stack.call("GET", f"/cooperatives/{cooperative}/reports/trial-balance", token)
            if answer.status_code != 200 or not answer.json()["balanced"]:
                found.append(f"trial balance of {cooperative}: {answer.status_code} {answer.text[:200]}")
        self.summary["savings_checked"] = len(self.workload.balance)
        self.summary["trial_balances_checked"] = len(cooperatives)
        return found


def of_type(events: list[tuple[dict, dict]], *types: str) -> list[tuple[dict, dict]]:
    return [(commit, event) for commit, event in events if event["event_type"] in types]


def own_command_ids(command: Command) -> set[str]:
    """The command ids one client command may store under (its steps have derived ids)."""
    ids = {command.command_id}
    if command.kind == "apply":
        ids.add(derived_id("claim-nik", command.command_id))
    return ids


@pytest.fixture(autouse=True)
def _quiet_requests_logging():
    import logging

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    yield
