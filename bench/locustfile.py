"""Locust load for `make bench` (sustained_commands_per_s): mixed commands through the gateway.

Each user is one cooperative board working for one member: sukarela deposits, withdrawals
(never more than it deposited), membership applications and admissions, each POST with its
own Idempotency-Key, at `KOPNET_BENCH_USER_RATE` commands per second. Anything but a 2xx is a
failure. Targets (base URL, tokens, members with open savings, today's date) come from the JSON
file named by KOPNET_BENCH_TARGETS, written by bench/e2e_bench.py.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import uuid

from locust import HttpUser, constant_throughput, task

with open(os.environ["KOPNET_BENCH_TARGETS"]) as _file:
    TARGETS = json.load(_file)
RATE = float(os.environ.get("KOPNET_BENCH_USER_RATE", "2"))
_MEMBERS = itertools.cycle([(coop["id"], coop["token"], member)
                            for coop in TARGETS["cooperatives"] for member in coop["members"]])


class Board(HttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.cooperative, token, self.member = next(_MEMBERS)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.balance = 0
        self.applied: list[str] = []
        self.prefix = f"/api/v1/cooperatives/{self.cooperative}"

    def post(self, path: str, body: dict | None, name: str):
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(self.prefix + path, json=body, headers=headers, name=name,
                              catch_response=True) as answer:
            if answer.status_code not in (200, 201):
                answer.failure(f"{answer.status_code} {answer.text[:200]}")
                return None
            return answer.json()

    @task(4)
    def deposit(self) -> None:
        amount = random.randrange(1_000, 50_000, 500)
        if self.post(f"/members/{self.member}/savings/sukarela/deposits",
                     {"amount": amount, "date": TARGETS["today"]}, "deposit") is not None:
            self.balance += amount

    @task(2)
    def withdraw(self) -> None:
        if self.balance < 1_000:
            return self.deposit()
        amount = random.randrange(1_000, self.balance + 1, 500)
        if self.post(f"/members/{self.member}/savings/sukarela/withdrawals",
                     {"amount": amount, "date": TARGETS["today"]}, "withdraw") is not None:
            self.balance -= amount

    @task(2)
    def apply(self) -> None:
        # plausible (membership checks province, birth date and serial): Bandung, a random birth date
        nik = (f"327301{random.randrange(1, 29):02d}{random.randrange(1, 13):02d}"
               f"{random.randrange(100):02d}{random.randrange(1, 10_000):04d}")
        member = self.post("/members", {"name": f"Anggota {nik[-4:]}", "nik": nik, "phone": "081234567890",
                                        "joined_on": TARGETS["today"]}, "apply member")
        if member is not None:
            self.applied.append(member["id"])

    @task(2)
    def admit(self) -> None:
        if not self.applied:
            return self.apply()
        self.post(f"/members/{self.applied.pop()}/admit", None, "admit member")
