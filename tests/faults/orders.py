"""Orders under the faults (issue 12): a second client walks orders through their steps while the
steady workload runs and services are killed, then checks the settlement saga's outcome.

Flows, in turn: a B2B cash order (settles), a B2C sukarela order of a member with enough savings
(settles), one of a member with none (fails: insufficient balance), and a B2B order cancelled after
confirmation. Each step is a client command with its own Idempotency-Key, retried like the
workload's commands (Workload.send). After the network settles:
- every order the client placed is stored once (its id derives from the place command's id), and
  no failed place stored one;
- an order whose steps all succeeded ends settled, failed or cancelled as its flow says;
- a settled order has exactly one unreversed sale in the seller's books and, B2B, one purchase in
  the buyer's, or, B2C, one sukarela withdrawal of its total; a failed or cancelled order has no
  net money on either side (what was booked is reversed) — never money on one side only;
- the product's stock is its initial stock minus what settled, and its availability that minus
  what is still reserved, in the store and in the catalog read model.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Any

import eventlet

from services.gateway.auth import Principal
from services.networking.projections import CATALOG
from shared.envelope import derived_id
from shared.projection import read_model
from tests.conftest import wait_for

from .workload import Command, Workload

STOCK, PRICE = 100_000, 10_000
FLOWS = ("b2b", "b2c", "b2c_poor", "cancel")
FINAL = {"b2b": "settled", "b2c": "settled", "b2c_poor": "failed", "cancel": "cancelled"}
STEPS = {"b2b": ("confirm", "ship", "deliver"), "b2c": ("confirm", "ship", "deliver"),
         "b2c_poor": ("confirm", "ship", "deliver"), "cancel": ("confirm", "cancel")}
RESERVED = ("confirmed", "shipped", "delivered")


class OrderStream:
    def __init__(self, stack, workload: Workload, seller: str, buyer: str, rich: str, poor: str,
                 rate: float = 1.0, seed: int = 12):
        self.stack, self.workload = stack, workload
        self.seller, self.buyer = seller, buyer
        self.random = random.Random(seed)
        self.rate = rate
        self.principals = {
            "seller": Principal("coop_admin", cooperative_id=seller),
            "buyer": Principal("coop_admin", cooperative_id=buyer),
            "b2c": Principal("member", cooperative_id=seller, member_id=rich),
            "b2c_poor": Principal("member", cooperative_id=seller, member_id=poor)}
        self.tokens = {name: stack.token(p.role, **{k: v for k, v in (
            ("cooperative_id", p.cooperative_id), ("member_id", p.member_id)) if v})
            for name, p in self.principals.items()}
        self.product = self._list_product()
        self.orders: list[dict[str, Any]] = []  # {flow, quantity, place, steps: [Command]}
        self._stop = False
        self._thread: Any = None

    def _list_product(self) -> str:
        answer = self.stack.call("POST", f"/cooperatives/{self.seller}/products", self.tokens["seller"], {
            "name": "Kopi Arabika Preanger", "category": "coffee", "unit": "kg", "price": PRICE,
            "stock": STOCK})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def fund(self, member: str, amount: int) -> None:
        path = f"/cooperatives/{self.seller}/members/{member}/savings"
        wait_for(lambda: self.stack.call("GET", path, self.tokens["seller"]).status_code == 200,
                 what="the B2C buyer's savings open")
        if amount:
            answer = self.stack.call("POST", f"{path}/sukarela/deposits", self.tokens["seller"],
                                     {"amount": amount, "date": self.workload.today})
            assert answer.status_code == 201, answer.text

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = eventlet.spawn(self._run)

    def stop(self) -> None:
        self._stop = True
        self._thread.wait()

    def _run(self) -> None:
        number = 0
        while not self._stop:
            flow = FLOWS[number % len(FLOWS)]
            number += 1
            self._walk(flow, self.random.randint(1, 3))
            eventlet.sleep(1.0 / self.rate)

    def _command(self, flow: str, kind: str, path: str, body: dict | None, party: str) -> Command:
        return Command(f"order:{kind}", path, body, self.principals[party], self.tokens[party])

    def _walk(self, flow: str, quantity: int) -> None:
        buyer_party = "buyer" if flow in ("b2b", "cancel") else flow
        buyer = {"cooperative_id": self.buyer} if buyer_party == "buyer" else {
            "cooperative_id": self.seller, "member_id": self.principals[flow].member_id}
        place = self._command(flow, "place", "/orders", {
            "buyer": buyer, "seller_cooperative_id": self.seller,
            "payment": "cash" if flow in ("b2b", "cancel") else "sukarela",
            "lines": [{"product_id": self.product, "quantity": quantity}]}, buyer_party)
        order = {"flow": flow, "quantity": quantity, "place": place, "steps": []}
        self.orders.append(order)
        self.workload.send(place)
        if not place.succeeded:
            return
        for step in STEPS[flow]:
            party = "seller" if step in ("confirm", "ship") else buyer_party
            command = self._command(flow, step, f"/orders/{place.answer['id']}/{step}", None, party)
            order["steps"].append(command)
            self.workload.send(command)
            if not command.succeeded:
                return

    # -- what happened ------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        return [command for order in self.orders for command in (order["place"], *order["steps"])]

    def problems(self) -> list[str]:
        found: list[str] = []
        networking, ledger = self.stack.database("networking"), self.stack.database("ledger")
        n_commits = list(networking["commits"].find({"end": {"$gte": 1}}))
        l_commits = list(ledger["commits"].find({"end": {"$gte": 1}}))
        status: dict[str, str] = {}
        for commit in sorted(n_commits, key=lambda c: c["position"]):
            if commit["stream_type"] == "Order":
                for event in commit["events"]:
                    status[commit["stream_id"]] = event["event_type"].split(".Order", 1)[1].lower()
        placed = {derived_id("networking-order", o["place"].command_id): o for o in self.orders}
        wanted = {order_id for order_id, o in placed.items() if o["place"].succeeded}
        if set(status) != wanted:
            found.append(f"orders stored {len(status)}, placed by the client {len(wanted)}: missing "
                         f"{len(wanted - set(status))}, not placed by a 2xx {len(set(status) - wanted)}")
        money = _money(l_commits, wanted)
        settled_quantity = reserved_quantity = 0
        for order_id in wanted & set(status):
            order, now = placed[order_id], status[order_id]
            walked = len(order["steps"]) == len(STEPS[order["flow"]]) and order["steps"][-1].succeeded
            if walked and now != FINAL[order["flow"]]:
                found.append(f"{order['flow']} order {order_id}: {now}, expected {FINAL[order['flow']]}")
            settled_quantity += order["quantity"] if now == "settled" else 0
            reserved_quantity += order["quantity"] if now in RESERVED else 0
            total = order["quantity"] * PRICE
            booked = money.get(order_id, {})
            if now == "settled":
                expected = {"sale": total, **({"purchase": total} if order["flow"] == "b2b"
                                               else {"withdrawal": total})}
                if booked != expected:
                    found.append(f"settled {order['flow']} order {order_id}: booked {booked}, "
                                 f"expected {expected}")
            elif now in ("failed", "cancelled", "placed", *RESERVED) and any(booked.values()):
                found.append(f"{now} order {order_id}: net money booked {booked}")
        found += self._stock(n_commits, networking, settled_quantity, reserved_quantity)
        return found

    def _stock(self, n_commits, networking, settled: int, reserved: int) -> list[str]:
        on_hand, held = STOCK, Counter[str]()
        for commit in sorted(n_commits, key=lambda c: c["position"]):
            if commit["stream_id"] != self.product:
                continue
            for event in commit["events"]:
                kind, data = event["event_type"], event["payload"]
                if kind == "networking.StockReserved":
                    held[data["order_id"]] = data["quantity"]
                elif kind == "networking.StockReleased":
                    held.pop(data["order_id"], None)
                elif kind == "networking.StockSold":
                    on_hand -= held.pop(data["order_id"], 0)
        found = []
        if (on_hand, sum(held.values())) != (STOCK - settled, reserved):
            found.append(f"stock in the store: on hand {on_hand}, reserved {sum(held.values())}; "
                         f"expected {STOCK - settled} and {reserved}")
        doc = read_model(networking, CATALOG, "products").find_one({"_id": self.product}) or {}
        if (doc.get("on_hand"), doc.get("available")) != (STOCK - settled, STOCK - settled - reserved):
            found.append(f"catalog read model: on hand {doc.get('on_hand')}, "
                         f"available {doc.get('available')}; "
                         f"expected {STOCK - settled}, {STOCK - settled - reserved}")
        return found


def _money(l_commits: list[dict], orders: set[str]) -> dict[str, dict[str, int]]:
    """Per order, the net amount of each role the ledger booked for it (sale, purchase, withdrawal),
    reversals netted out: a role booked and reversed nets to 0, and is left out."""
    entries: dict[str, tuple[str, str, int]] = {}  # entry id -> (order, role, amount)
    reversed_entries: set[str] = set()
    withdrawals: dict[str, tuple[str, int]] = {}  # command id -> (entry id, amount)
    for commit in l_commits:
        for event in commit["events"]:
            data = event["payload"]
            if event["event_type"] == "ledger.JournalEntryPosted":
                source = data.get("source") or {}
                if source.get("service") == "networking":
                    order, _colon, role = source["id"].rpartition(":")
                    total = sum(line["debit"] for line in data["lines"])
                    entries[data["entry_id"]] = (order, role, total)
                if data.get("reverses"):
                    reversed_entries.add(data["reverses"])
            elif event["event_type"] == "ledger.SavingsWithdrawn":
                withdrawals[commit["command_id"]] = (data["entry_id"], data["amount"])
    money: dict[str, Counter[str]] = {order: Counter() for order in orders}
    for entry_id, (order, role, amount) in entries.items():
        if entry_id not in reversed_entries:
            money.setdefault(order, Counter())[role] += amount
    for order in orders:  # the saga withdraws under a command id derived from the order
        withdrawal = withdrawals.get(derived_id("networking-withdrawal", order))
        if withdrawal and withdrawal[0] not in reversed_entries:
            money[order]["withdrawal"] += withdrawal[1]
    return {order: {role: amount for role, amount in roles.items() if amount}
            for order, roles in money.items()}
