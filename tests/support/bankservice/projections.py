from shared.envelope import Envelope
from shared.projection import Projection, View


class Balances(Projection):
    name = "balances"
    collections = ("balances",)
    handles = frozenset({"bank.AccountOpened", "bank.Deposited", "bank.Withdrawn", "bank.AccountClosed"})

    def handle(self, event: Envelope, view: View) -> None:
        if event.name == "AccountClosed":
            view.delete("balances", event.stream_id)
            return
        doc = view.get("balances", event.stream_id) or {"balance": 0, "movements": 0}
        if event.name == "AccountOpened":
            doc.update(cooperative_id=event.payload["cooperative_id"], owner=event.payload["owner"])
        elif event.name == "Deposited":
            doc["balance"] += event.payload["amount"]
            doc["movements"] += 1
        elif event.name == "Withdrawn":
            doc["balance"] -= event.payload["amount"]
            doc["movements"] += 1
        view.put("balances", event.stream_id, doc)


class CooperativeTotals(Projection):
    """One document per cooperative, touched by events of many streams."""

    name = "cooperative_totals"
    collections = ("cooperative_totals",)
    handles = frozenset({"bank.Deposited", "bank.Withdrawn", "bank.AccountClosed"})

    def handle(self, event: Envelope, view: View) -> None:
        doc = view.get("cooperative_totals", event.cooperative_id or "-") or {"deposits": 0, "withdrawals": 0,
                                                                             "returned": 0}
        key = {"Deposited": "deposits", "Withdrawn": "withdrawals", "AccountClosed": "returned"}[event.name]
        doc[key] += event.payload.get("amount", event.payload.get("balance_returned", 0))
        view.put("cooperative_totals", event.cooperative_id or "-", doc)
