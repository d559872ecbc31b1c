"""Locust load for `make bench` (sustained_commands_per_s): mixed commands through the gateway.

Each user is one cooperative board working for one member, across the four services: sukarela
deposits and withdrawals (never more than it deposited; ledger), membership applications and
admissions (membership), murabahah instalments on disbursed contracts (financing) and B2B orders
placed with another cooperative and confirmed by its board (networking), each POST with its own
Idempotency-Key, at `KOPNET_BENCH_USER_RATE` commands per second. Anything but a 2xx is a
failure. Targets (tokens, members with open savings, contracts, products, today's date) come
from the JSON file named by KOPNET_BENCH_TARGETS, written by bench/sustained_bench.py.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import uuid

from locust import FastHttpUser, constant_throughput, task

with open(os.environ["KOPNET_BENCH_TARGETS"]) as _file:
    TARGETS = json.load(_file)
RATE = float(os.environ.get("KOPNET_BENCH_USER_RATE", "2"))
_MEMBERS = itertools.cycle([(coop["id"], coop["token"], member)
                            for coop in TARGETS["cooperatives"] for member in coop["members"]])
_CONTRACTS = itertools.cycle([(coop["id"], coop["token"], contract)
                              for coop in TARGETS["cooperatives"] for contract in coop["contracts"]])
_PRODUCTS = itertools.cycle([(coop["id"], coop["token"], coop["product"])
                             for coop in TARGETS["cooperatives"]])
API = "/api/v1"


class Board(FastHttpUser):
    """FastHttpUser (geventhttpclient), not HttpUser (requests): the load generator shares the two
    cores with the network it loads, and requests spent 1.6-1.7 ms of CPU per POST."""

    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.cooperative, token, self.member = next(_MEMBERS)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.balance = 0
        self.applied: list[str] = []
        self.prefix = f"{API}/cooperatives/{self.cooperative}"

    def post(self, path: str, body: dict | None, name: str, token: str | None = None):
        """POSTs to `path` under the cooperative's prefix, or (starting with the API's) as it is;
        as this user's board, or as the board whose `token` is given."""
        auth = {"Authorization": f"Bearer {token}"} if token else self.auth
        url = path if path.startswith(API) else self.prefix + path
        with self.client.post(url, json=body, headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                              name=name, catch_response=True) as answer:
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

    @task(2)
    def pay_instalment(self) -> None:
        cooperative, token, contract = next(_CONTRACTS)
        self.post(f"{API}/cooperatives/{cooperative}/financing/{contract}/payments",
                  {"amount": TARGETS["instalment"], "date": TARGETS["today"]}, "pay instalment", token)

    @task(2)
    def order(self) -> None:
        seller, seller_token, product = next(_PRODUCTS)
        if seller == self.cooperative:
            seller, seller_token, product = next(_PRODUCTS)
        placed = self.post(f"{API}/orders", {
            "buyer": {"cooperative_id": self.cooperative}, "seller_cooperative_id": seller,
            "lines": [{"product_id": product, "quantity": 1}], "payment": "cash"}, "place order")
        if placed is not None:
            self.post(f"{API}/orders/{placed['id']}/confirm", None, "confirm order", seller_token)
