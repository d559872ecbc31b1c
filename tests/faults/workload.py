"""A steady client of the HTTP API: commands at a fixed rate (from a few concurrent users), each
with its own Idempotency-Key, retried with that same key on 503/409 (or no answer) like a real
client, with backoff, until it succeeds or its retry budget runs out. It records every attempt
(its X-Request-Id, which the gateway stores as the correlation id of whatever the attempt
caused) and what finally got a 2xx.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import eventlet
import requests

from services.gateway.auth import Principal
from services.gateway.idempotency import Claim, record_id
from services.ledger.application import local_today
from tests.e2e.conftest import application, registration, unique_digits

RETRY_BUDGET = 90.0  # seconds a command keeps retrying (an orphaned key frees itself after 30 s)
RETRYABLE = (503, 409)


@dataclass
class Attempt:
    request_id: str
    status: int | None  # None: no HTTP answer at all
    body: Any
    at: float

    @property
    def well_formed_error(self) -> bool:
        """503 or 409 in the API's error format (http-api.md, Conventions)."""
        body = self.body
        return (self.status in RETRYABLE and isinstance(body, dict) and set(body) == {"error"}
                and set(body["error"]) == {"code", "message", "fields"}
                and body["error"]["code"] == {503: "unavailable", 409: "conflict"}[self.status])


@dataclass
class Command:
    kind: str  # register, apply, admit, deposit, withdraw, pay (a financing instalment)
    path: str
    body: dict[str, Any] | None
    principal: Principal
    token: str
    cooperative_id: str | None = None
    member_id: str | None = None
    amount: int = 0
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: list[Attempt] = field(default_factory=list)
    answer: Any = None
    status: int | None = None  # the final answer's status

    @property
    def command_id(self) -> str:
        """The command id the service stores for every attempt with this key (gateway.md)."""
        return Claim(record_id(self.principal.key, self.key), "").command_id

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed_attempts(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status is None or not 200 <= a.status < 300]


class Workload:
    """Mixed commands on a few cooperatives: registrations, applications, admissions, and sukarela
    deposits and withdrawals of members whose savings are open (`ready`)."""

    def __init__(self, stack, cooperatives: list[str], ready: list[tuple[str, str]], rate: float = 10.0,
                 users: int = 4, seed: int = 6, contracts: list[tuple[str, str]] = ()):
        self.stack = stack
        self.cooperatives = cooperatives
        self.ready = list(ready)  # (cooperative, member) whose savings account is open
        self.contracts = list(contracts)  # (cooperative, contract) disbursed, owing far more than is paid
        self.rate = rate
        self.users = users
        self.random = random.Random(seed)
        self.commands: list[Command] = []
        self.applied: deque[tuple[str, str]] = deque()  # waiting for admission
        self.balance: Counter[tuple[str, str]] = Counter()  # confirmed sukarela per member
        self.withdrawing: set[tuple[str, str]] = set()
        self.admin = Principal("network_admin")
        self.tokens = {None: stack.token("network_admin")}
        for cooperative in cooperatives:
            self.tokens[cooperative] = stack.token("coop_admin", cooperative_id=cooperative)
        self._stop = threading.Event()
        self._threads: list[Any] = []
        self.today = local_today().isoformat()

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [eventlet.spawn(self._user) for _ in range(self.users)]

    def stop(self) -> None:
        """Stops offering new commands; each user finishes (and retries) the one it is sending."""
        self._stop.set()
        for thread in self._threads:
            thread.wait()

    def _user(self) -> None:
        """One client: a command every `users / rate` seconds, sent (and retried) to the end
        before the next, as an app does; several users keep several commands in flight."""
        interval = self.users / self.rate
        next_at = time.monotonic() + self.random.uniform(0, interval)
        while not self._stop.is_set():
            eventlet.sleep(max(0.0, next_at - time.monotonic()))
            command = self.next_command()
            self.commands.append(command)
            self.send(command)
            next_at = max(next_at + interval, time.monotonic())

    # -- choosing -----------------------------------------------------------------------------
    def next_command(self) -> Command:
        weights = {"register": 2, "apply": 30, "admit": 25, "deposit": 30, "withdraw": 15,
                   "pay": 15 if self.contracts else 0}
        kind = self.random.choices(list(weights), list(weights.values()))[0]
        if kind == "pay":
            cooperative, contract = self.random.choice(self.contracts)
            amount = self.random.randrange(1_000, 50_000, 500)
            return self._command("pay", f"/cooperatives/{cooperative}/financing/{contract}/payments",
                                 {"amount": amount, "date": self.today}, cooperative, None, amount)
        if kind == "admit" and self.applied:
            cooperative, member = self.applied.popleft()
            return self._command("admit", f"/cooperatives/{cooperative}/members/{member}/admit", None,
                                 cooperative, member)
        if kind == "deposit":
            cooperative, member = self.random.choice(self.ready)
            amount = self.random.randrange(1_000, 100_000, 500)
            return self._command("deposit", self._savings(cooperative, member, "deposits"),
                                 {"amount": amount, "date": self.today}, cooperative, member, amount)
        if kind == "withdraw":
            free = [m for m in self.ready if m not in self.withdrawing and self.balance[m] >= 1_000]
            if free:
                cooperative, member = self.random.choice(free)
                amount = self.random.randrange(1_000, self.balance[(cooperative, member)] + 1, 500)
                self.withdrawing.add((cooperative, member))
                return self._command("withdraw", self._savings(cooperative, member, "withdrawals"),
                                     {"amount": amount, "date": self.today}, cooperative, member, amount)
        if kind == "register":
            return self._command("register", "/cooperatives", registration(unique_digits(16)), None)
        cooperative = self.random.choice(self.cooperatives)
        return self._command("apply", f"/cooperatives/{cooperative}/members",
                             application(unique_digits(16)), cooperative)

    @staticmethod
    def _savings(cooperative: str, member: str, movement: str) -> str:
        return f"/cooperatives/{cooperative}/members/{member}/savings/sukarela/{movement}"

    def _command(self, kind: str, path: str, body: dict | None, cooperative: str | None,
                 member: str | None = None, amount: int = 0) -> Command:
        principal = self.admin if cooperative is None or kind == "register" else Principal(
            "coop_admin", cooperative_id=cooperative)
        token = self.tokens[None if kind == "register" else cooperative]
        return Command(kind, path, body, principal, token, cooperative, member, amount)

    # -- sending ------------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        deadline, pause = time.monotonic() + RETRY_BUDGET, 0.25
        with requests.Session() as session:
            while True:
                request_id = str(uuid.uuid4())
                headers = {"Authorization": f"Bearer {command.token}", "Idempotency-Key": command.key,
                           "X-Request-Id": request_id}
                try:
                    answer = session.post(self.stack.base + command.path, json=command.body,
                                          headers=headers, timeout=30)
                    status, body = answer.status_code, _json(answer)
                except requests.RequestException as error:
                    status, body = None, repr(error)
                command.attempts.append(Attempt(request_id, status, body, time.monotonic()))
                if status is not None and status not in RETRYABLE:
                    command.status, command.answer = status, body
                    break
                if time.monotonic() > deadline:
                    break  # gave up
                eventlet.sleep(pause * self.random.uniform(0.5, 1.5))
                pause = min(pause * 2, 2.0)
        self._settle(command)

    def _settle(self, command: Command) -> None:
        member = (command.cooperative_id, command.member_id)
        if command.kind == "withdraw":
            self.withdrawing.discard(member)  # type: ignore[arg-type]
        if not command.succeeded:
            return
        if command.kind == "apply":
            self.applied.append((command.cooperative_id, command.answer["id"]))  # type: ignore[arg-type]
        elif command.kind == "deposit":
            self.balance[member] += command.amount  # type: ignore[index]
        elif command.kind == "withdraw":
            self.balance[member] -= command.amount  # type: ignore[index]

    # -- what happened ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        done = self.commands
        return {
            "commands": len(done),
            "accepted": sum(c.succeeded for c in done),
            "failed_attempts": sum(len(c.failed_attempts) for c in done),
            "recovered": sum(c.succeeded and bool(c.failed_attempts) for c in done),
            "gave_up": sum(c.status is None for c in done),
            "refused": sum(c.status is not None and not c.succeeded for c in done),
        }


def _json(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text
