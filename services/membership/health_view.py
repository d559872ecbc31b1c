"""The health projection: per cooperative the facts its flags and score are computed from
(health.py, health_score.py), per month the network's activity, and the network's catalog and
financing totals. Updated as events arrive; a query reads documents, never the books.

Documents (each depends only on the event and its own state):
* health/<cooperative id>: profile fields, status, rats, closed_years, reports, business (entries not
  reversed), balances by account type, months (income/expense/member income per month),
  financing (contracts outstanding/overdue), written_off, catalog counts.
* health_months/<YYYY-MM>: business entries, cooperatives with business (id → entries), RATs, closes,
  orders, products, financing disbursed.
* health_network/totals: catalog and financing totals since the start.
"""
from __future__ import annotations

from typing import Any

from mongoengine import DictField, StringField

from shared.envelope import Envelope
from shared.projection import Projection, ReadModel, View

from .health_record import prune_business

HEALTH = "cooperative_health"
PROFILE = ("name", "registration_number", "kind", "regency", "is_pesantren", "founded_on")
FINANCING_COUNTERS = {"disbursed": "contracts_disbursed", "late": "late_instalments", "paid": "payments",
                      "settled": "contracts_settled", "written_off": "contracts_written_off"}
CATALOG_COUNTERS = {"product_listed": "products_listed", "order_settled": "orders_settled"}


def _bump(counters: dict[str, Any], key: str, by: int = 1) -> None:
    counters[key] = counters.get(key, 0) + by


# -- the read models as the query side declares them ---------------------------------------------
class CooperativeHealth(ReadModel):
    """One per cooperative (`_id` its id): profile, health inputs with evidence, counters."""

    meta = {"collection": "health", "indexes": ["status", "regency"]}
    name = StringField()
    status = StringField()
    regency = StringField()
    kind = StringField()


class HealthMonth(ReadModel):
    """One per month of the network's activity (`_id` YYYY-MM)."""

    meta = {"collection": "health_months"}


class HealthNetwork(ReadModel):
    """Network-wide counters (`_id` "totals")."""

    meta = {"collection": "health_network"}
    catalog = DictField()
    financing = DictField()


class CooperativeHealthView(Projection):
    name = HEALTH
    collections = ("health", "health_months", "health_network")  # names unique in the database
    documents = (CooperativeHealth, HealthMonth, HealthNetwork)
    handles = frozenset(f"membership.{name}" for name in (
        "CooperativeRegistered", "CooperativeDissolved", "AnnualMeetingHeld", "HealthPostingRecorded",
        "HealthReportRecorded", "HealthFinancingRecorded", "HealthCatalogRecorded"))

    def handle(self, event: Envelope, view: View) -> None:
        data = event.payload
        doc = view.get("health", data["cooperative_id"]) or {"id": data["cooperative_id"]}
        getattr(self, f"_{event.name}")(data, doc, view)
        view.put("health", data["cooperative_id"], doc)

    def _month(self, view: View, day: str) -> dict[str, Any]:
        return view.get("health_months", day[:7]) or {"month": day[:7], "cooperatives": {}}

    def _CooperativeRegistered(self, data: dict, doc: dict, view: View) -> None:
        doc.update({key: data[key] for key in PROFILE}, status=doc.get("status", "active"))

    def _CooperativeDissolved(self, data: dict, doc: dict, view: View) -> None:
        doc.update(status="dissolved", dissolved_on=data["dissolved_on"])

    def _AnnualMeetingHeld(self, data: dict, doc: dict, view: View) -> None:
        doc["rats"] = {**doc.get("rats", {}), str(data["fiscal_year"]): data["held_on"]}
        month = self._month(view, data["held_on"])
        _bump(month, "rats")
        view.put("health_months", month["month"], month)

    def _HealthPostingRecorded(self, data: dict, doc: dict, view: View) -> None:
        balances = doc.setdefault("balances", {})
        # the open period's result (income − expenses since the last close): a closing entry moves
        # it into equity with the opposite sign, so summing every posting leaves exactly that
        _bump(balances, "result", data["amounts"].get("income", 0) - data["amounts"].get("expense", 0))
        for key, amount in data["amounts"].items():
            if key not in ("income", "expense", "member_income"):
                _bump(balances, key, amount)
        # Income and expense balances are emptied by the year-end close: flows count every other
        # posting in its month (a reversal carries its entry's date, so it cancels in that month).
        if not data["closing"]:
            months = doc.setdefault("months", {})
            flows = months.setdefault(data["date"][:7], {})
            for key in ("income", "expense", "member_income"):
                _bump(flows, key, data["amounts"].get(key, 0))
            doc["months"] = dict(sorted(months.items())[-36:])
        business = dict(doc.get("business", {}))
        changed = []
        if data["business"]:
            business[data["entry_id"]] = data["date"]
            changed.append((data["date"], 1))
        if data["cancels"] and data["cancels"]["entry_id"] in business:
            business.pop(data["cancels"]["entry_id"])
            changed.append((data["cancels"]["date"], -1))
        doc["business"] = prune_business(business)
        for day, step in changed:
            month = self._month(view, day)
            _bump(month, "business_entries", step)
            per_coop = month["cooperatives"]
            per_coop[data["cooperative_id"]] = per_coop.get(data["cooperative_id"], 0) + step
            if per_coop[data["cooperative_id"]] <= 0:
                per_coop.pop(data["cooperative_id"])
            view.put("health_months", month["month"], month)

    def _HealthReportRecorded(self, data: dict, doc: dict, view: View) -> None:
        if data["fiscal_year"] is not None:
            doc["closed_years"] = {**doc.get("closed_years", {}), str(data["fiscal_year"]): data["on"]}
        if data["on"] >= (doc.get("reports") or {}).get("last_on", ""):
            doc["reports"] = {"last_on": data["on"], "event_id": data["source_event_id"],
                              "event_type": data["source_event_type"]}
        month = self._month(view, data["on"])
        _bump(month, "reports")
        view.put("health_months", month["month"], month)

    def _HealthFinancingRecorded(self, data: dict, doc: dict, view: View) -> None:
        contracts = doc.setdefault("financing", {})
        if data["outstanding"] or data["overdue"]:
            contracts[data["contract_id"]] = {"outstanding": data["outstanding"], "overdue": data["overdue"]}
        else:
            contracts.pop(data["contract_id"], None)
        if data["change"] == "written_off":
            written = doc.setdefault("written_off", {})
            written.update(count=written.get("count", 0) + 1, last_on=data["on"])
        totals = view.get("health_network", "totals") or {}
        financing = totals.setdefault("financing", {})
        _bump(financing, FINANCING_COUNTERS.get(data["change"], data["change"]))
        _bump(financing, "disbursed_amount", data["disbursed"])
        view.put("health_network", "totals", totals)
        if data["change"] == "disbursed":
            month = self._month(view, data["on"])
            _bump(month, "financing_disbursed")
            view.put("health_months", month["month"], month)

    def _HealthCatalogRecorded(self, data: dict, doc: dict, view: View) -> None:
        if data["change"] in ("order_settled", "order_bought"):
            # a settled order is business of both sides (domain.md), the buyer's too, whose purchase
            # books no income; it is final (never reversed), so it counts as activity as it stands
            doc["business"] = prune_business({**doc.get("business", {}),
                                              f"order:{data['source_event_id']}": data["on"]})
        if data["change"] == "order_bought":
            return  # the seller's copy counts the order in the network's totals
        key = CATALOG_COUNTERS.get(data["change"], data["change"])
        _bump(doc.setdefault("catalog", {}), key)
        totals = view.get("health_network", "totals") or {}
        catalog = totals.setdefault("catalog", {})
        _bump(catalog, key)
        if data["change"] == "order_settled":
            _bump(catalog, "order_value", data["amount"])
        view.put("health_network", "totals", totals)
        month = self._month(view, data["on"])
        _bump(month, key)
        view.put("health_months", month["month"], month)
