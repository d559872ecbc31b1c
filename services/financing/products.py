"""The products (akad) and their terms, and schedules to the rupiah. Standard library only.

Every rule a product's terms must follow is checked here (`checked_terms`), so no client can
sign a contract the domain would not: amounts are positive whole rupiah, nisbah is 0–100,
the tenor is 1–360 months, the first due date is not before the application, a rahn loan
does not exceed its collateral's value, and a qardh's admin fee is a charge below the principal.
"""
from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from shared.aggregate import DomainError

PRODUCTS = ("murabahah", "mudharabah", "musyarakah", "ijarah", "qardh", "rahn")
PARTNER_KINDS = ("bank_syariah", "bprs", "pegadaian", "jamkrida")
#: Which products a partner of each kind may fund; only a jamkrida guarantees (kafalah).
FUNDS: dict[str, frozenset[str]] = {
    "bank_syariah": frozenset({"murabahah", "mudharabah", "musyarakah"}),
    "bprs": frozenset({"murabahah", "mudharabah", "musyarakah"}),
    "pegadaian": frozenset({"rahn"}),
    "jamkrida": frozenset(),
}
GUARANTORS = frozenset({"jamkrida"})
MAX_MONEY = 10**13   # rupiah per amount: a price over 360 months stays far inside the ledger's line limit
MAX_TENOR = 360

Check = Callable[[Any], str | None]  # None when the value is right, else what is wrong


def _money(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_MONEY:
            return f"a whole rupiah amount from {minimum} to {MAX_MONEY}"
        return None
    return check


def _percent(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
    return None if ok else "a whole percentage from 0 to 100"


def _tenor(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TENOR
    return None if ok else f"whole months from 1 to {MAX_TENOR}"


def _day(value: Any) -> str | None:
    try:
        date.fromisoformat(value)
        return None if isinstance(value, str) and len(value) == 10 else "a date YYYY-MM-DD"
    except (TypeError, ValueError):
        return "a date YYYY-MM-DD"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _collateral(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"description", "appraised_value"}:
        return "{description, appraised_value}"
    text = value["description"]
    if not isinstance(text, str) or not 1 <= len(text) <= 200:
        return "description is 1 to 200 characters"
    return _money(1)(value["appraised_value"])


POSITIVE, FEE = _money(1), _money(0)
_SCHEDULED = {"tenor_months": _tenor, "first_due_on": _day}
#: Each product's terms: field -> check; `late_fee` (ta'zir per late instalment) is optional
#: (default 0) except for murabahah, whose terms always state it.
TERMS: dict[str, dict[str, Check]] = {
    "murabahah": {"cost": POSITIVE, "margin": FEE, **_SCHEDULED, "late_fee": FEE},
    "mudharabah": {"capital": POSITIVE, "nisbah_member_percent": _percent, **_SCHEDULED},
    "musyarakah": {"coop_capital": POSITIVE, "member_capital": POSITIVE, "nisbah_member_percent": _percent,
                   "diminishing": _flag, **_SCHEDULED},
    "ijarah": {"asset_cost": POSITIVE, "rent_per_month": POSITIVE, **_SCHEDULED, "transfer_at_end": _flag},
    "qardh": {"principal": POSITIVE, "admin_fee": FEE, **_SCHEDULED},
    "rahn": {"principal": POSITIVE, "collateral": _collateral, "storage_fee_per_month": FEE, **_SCHEDULED},
}


def invalid(fields: dict[str, Any], message: str = "the request is invalid") -> DomainError:
    return DomainError("validation_error", message, fields)


def checked_terms(product: Any, terms: Any, applied_on: str) -> dict[str, Any]:
    """The terms as stored, or validation_error naming each wrong field under `terms`."""
    if product not in TERMS:
        raise invalid({"product": [f"one of {', '.join(PRODUCTS)}"]})
    if not isinstance(terms, dict):
        raise invalid({"terms": ["an object with the product's terms"]})
    wanted = TERMS[product]
    given = {"late_fee": 0, **terms} if product != "murabahah" else dict(terms)
    problems: dict[str, list[str]] = {}
    for name, check in {**wanted, "late_fee": FEE}.items():
        if name not in given:
            problems[name] = ["missing"]
        elif (problem := check(given[name])) is not None:
            problems[name] = [problem]
    for name in set(given) - set(wanted) - {"late_fee"}:
        problems[name] = [f"not a term of {product}"]
    if not problems:
        problems.update(_product_rules(product, given, applied_on))
    if problems:
        raise invalid({"terms": problems})
    return given


def _product_rules(product: str, terms: Mapping[str, Any], applied_on: str) -> dict[str, list[str]]:
    problems = {}
    if terms["first_due_on"] < applied_on:
        problems["first_due_on"] = ["not before the application"]
    if product == "qardh" and terms["admin_fee"] >= terms["principal"]:
        problems["admin_fee"] = ["an admin fee at actual cost, below the principal"]
    if product == "rahn" and terms["principal"] > terms["collateral"]["appraised_value"]:
        problems["principal"] = ["not more than the collateral's appraised value"]
    return problems


# -- schedules ----------------------------------------------------------------------------------
def due_date(first: str, months_later: int) -> str:
    """The same day of the month as `first`, `months_later` months on, clamped to the month's end."""
    start = date.fromisoformat(first)
    index = start.month - 1 + months_later
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1])).isoformat()


def equal_parts(total: int, count: int) -> list[int]:
    """`total` in `count` equal whole parts, the remainder in the last: 10,000,001 over 3 →
    3,333,333, 3,333,333, 3,333,335. The parts add up to `total` exactly."""
    base = total // count
    return [base] * (count - 1) + [total - base * (count - 1)]


def instalment(due_on: str, amount: int, fee: int = 0) -> dict[str, Any]:
    """`fee`: the part of `amount` that is a fee for a service (rahn storage), paid first."""
    return {"due_on": due_on, "amount": amount, "fee": fee, "paid": 0, "status": "due"}


def spread(principal: int, fee_per_month: int, tenor: int, first_due_on: str) -> list[dict[str, Any]]:
    return [instalment(due_date(first_due_on, n), part + fee_per_month, fee_per_month)
            for n, part in enumerate(equal_parts(principal, tenor))]


def schedule(product: str, terms: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the member repays, month by month, fixed at signing."""
    tenor, first = terms["tenor_months"], terms["first_due_on"]
    if product == "murabahah":
        return spread(terms["cost"] + terms["margin"], 0, tenor, first)
    if product == "mudharabah":
        return spread(terms["capital"], 0, tenor, first)
    if product == "musyarakah":
        if terms["diminishing"]:  # the member buys the cooperative's share month by month
            return spread(terms["coop_capital"], 0, tenor, first)
        return [instalment(due_date(first, tenor - 1), terms["coop_capital"])]  # returned at the end
    if product == "ijarah":  # the rent is fixed per period
        return [instalment(due_date(first, n), terms["rent_per_month"], terms["rent_per_month"])
                for n in range(tenor)]
    if product == "qardh":
        return spread(terms["principal"], 0, tenor, first)
    return spread(terms["principal"], terms["storage_fee_per_month"], tenor, first)  # rahn


def price(product: str, terms: Mapping[str, Any]) -> int | None:
    """What the member pays in all: murabahah cost + margin, ijarah the rents; None for the others."""
    if product == "murabahah":
        return terms["cost"] + terms["margin"]
    if product == "ijarah":
        return terms["rent_per_month"] * terms["tenor_months"]
    return None


def financed(product: str, terms: Mapping[str, Any]) -> int:
    """The amount the cooperative (or its funding partner) pays out at disbursement."""
    key = {"murabahah": "cost", "mudharabah": "capital", "musyarakah": "coop_capital",
           "ijarah": "asset_cost", "qardh": "principal", "rahn": "principal"}[product]
    return int(terms[key])
