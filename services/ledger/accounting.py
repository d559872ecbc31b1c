"""Bookkeeping rules without state: the default chart, journal lines, fiscal-year dates and the
SHU arithmetic (largest-remainder rounding). Standard library only."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from shared.aggregate import DomainError

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
NORMAL_BALANCE = {"asset": "debit", "expense": "debit", "liability": "credit", "equity": "credit",
                  "income": "credit"}
SHU_POOLS = ("reserve", "jasa_modal", "jasa_usaha", "board", "staff", "education", "social")
SAVINGS_KINDS = ("pokok", "wajib", "sukarela")
MAX_AMOUNT = 10**15  # rupiah per line: sums of many lines stay far inside a 64-bit integer

CASH, SUKARELA, SOCIAL_FUND, SHU_PAYABLE = "1101", "2101", "2102", "2103"
POKOK, WAJIB, RESERVE, CURRENT_SHU = "3101", "3102", "3103", "3104"

# The default chart of a cooperative's books: (code, name, type).
DEFAULT_CHART: tuple[tuple[str, str, str], ...] = (
    ("1101", "Kas", "asset"),
    ("1102", "Bank", "asset"),
    ("1103", "Piutang anggota", "asset"),
    ("1104", "Piutang murabahah", "asset"),
    ("1105", "Persediaan", "asset"),
    ("2101", "Simpanan sukarela", "liability"),
    ("2102", "Dana sosial (kebajikan)", "liability"),
    ("2103", "Utang SHU anggota", "liability"),
    ("2104", "Dana pengurus", "liability"),
    ("2105", "Dana karyawan", "liability"),
    ("2106", "Dana pendidikan", "liability"),
    ("2107", "Margin murabahah ditangguhkan", "liability"),
    ("2108", "Utang kepada mitra pembiayaan", "liability"),
    ("3101", "Simpanan pokok", "equity"),
    ("3102", "Simpanan wajib", "equity"),
    ("3103", "Cadangan", "equity"),
    ("3104", "SHU tahun berjalan", "equity"),
    ("4101", "Penjualan", "income"),
    ("4102", "Pendapatan margin", "income"),
    ("4103", "Pendapatan bagi hasil", "income"),
    ("4104", "Pendapatan lain-lain", "income"),
    ("4105", "Pendapatan ijarah dan ujrah", "income"),
    ("5101", "Harga pokok penjualan", "expense"),
    ("5102", "Beban usaha", "expense"),
    ("5103", "Beban kafalah", "expense"),
    ("5104", "Kerugian pembiayaan", "expense"),
    ("5105", "Bagi hasil mitra pembiayaan", "expense"),
)
SAVINGS_ACCOUNT = {"pokok": POKOK, "wajib": WAJIB, "sukarela": SUKARELA}
# Where each SHU pool goes at year end; the members' pools become what the cooperative owes them.
POOL_ACCOUNT = {"reserve": RESERVE, "jasa_modal": SHU_PAYABLE, "jasa_usaha": SHU_PAYABLE,
                "board": "2104", "staff": "2105", "education": "2106", "social": SOCIAL_FUND}
# Accounts the ledger posts to itself (savings, closing, SHU, exit netting): always active, never removed.
LEDGER_POSTED = frozenset({CASH, CURRENT_SHU, *SAVINGS_ACCOUNT.values(), *POOL_ACCOUNT.values(),
                           "1103", "1104"})


def invalid(field: str, message: str) -> DomainError:
    return DomainError("validation_error", message, {field: [message]})


# -- dates and fiscal years --------------------------------------------------------------------------
def fiscal_year(day: str) -> int:
    try:
        return date.fromisoformat(day).year
    except (TypeError, ValueError):
        raise invalid("date", "date must be YYYY-MM-DD") from None


def require_open_date(day: str, locked_through: int, today: date) -> None:
    """A movement may be dated in any fiscal year after the last locked one, up to today (the
    cooperative's local date, Asia/Jakarta: the caller's `today`), never later."""
    year = fiscal_year(day)
    if year <= locked_through:
        raise DomainError("fiscal_year_closed", f"fiscal year {year} is closed; date the entry after "
                          f"{locked_through}-12-31", {"date": [f"fiscal year {year} is closed"]})
    if day > today.isoformat():
        raise invalid("date", f"{day} is after today ({today.isoformat()}, Asia/Jakarta)")


def year_end(year: int) -> str:
    return f"{year}-12-31"


# -- journal lines -----------------------------------------------------------------------------------
def _amount(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def checked_lines(lines: Sequence[Mapping[str, Any]], chart: Mapping[str, Mapping[str, Any]],
                  members: Mapping[str, Any], reserved: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Lines as stored: each names an existing account and has exactly one positive integer
    amount; together they balance. Raises validation_error (with per-line fields) or
    unbalanced_entry."""
    if len(lines) < 2:
        raise invalid("lines", "an entry has at least two lines")
    problems: dict[str, dict[str, list[str]]] = {}
    clean: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        debit, credit = _amount(line.get("debit", 0)), _amount(line.get("credit", 0))
        account, member = line.get("account"), line.get("member_id")
        wrong: dict[str, list[str]] = {}
        if account not in chart:
            wrong["account"] = [f"no account {account} in the chart"]
        elif chart[str(account)].get("active") is False:
            wrong["account"] = [f"account {account} is deactivated"]
        elif account in reserved:
            wrong["account"] = [f"account {account} moves only with member savings deposits and withdrawals"]
        if debit < 0 or credit < 0 or (debit > 0) == (credit > 0) or max(debit, credit) > MAX_AMOUNT:
            wrong["debit"] = ["exactly one of debit and credit is a positive whole rupiah amount"]
        if member is not None and member not in members:
            wrong["member_id"] = [f"member {member} has no savings in these books"]
        if wrong:
            problems[str(index)] = wrong
        clean.append({"account": account, "debit": debit, "credit": credit, "member_id": member})
    if problems:
        raise DomainError("validation_error", "some lines are invalid", {"lines": problems})
    debits, credits = sum(line["debit"] for line in clean), sum(line["credit"] for line in clean)
    if debits != credits:
        raise DomainError("unbalanced_entry", f"debits {debits} do not equal credits {credits}",
                          {"lines": [f"debits {debits} != credits {credits}"]})
    return clean


def member_business(lines: Sequence[Mapping[str, Any]], chart: Mapping[str, Mapping[str, str]]
                    ) -> list[dict[str, Any]]:
    """Jasa usaha: an income line naming a member is that member's business (credit − debit)."""
    by_member: dict[str, int] = {}
    for line in lines:
        if line.get("member_id") and chart[line["account"]]["type"] == "income":
            member = line["member_id"]
            by_member[member] = by_member.get(member, 0) + line["credit"] - line["debit"]
    return [{"member_id": member, "amount": amount} for member, amount in sorted(by_member.items()) if amount]


def entry_payload(cooperative_id: str, entry_id: str, day: str, memo: str, kind: str,
                  lines: list[dict[str, Any]], chart: Mapping[str, Mapping[str, str]], *,
                  source: Mapping[str, str] | None = None, reverses: str | None = None) -> dict[str, Any]:
    """The `ledger.JournalEntryPosted` payload. Only ordinary postings are business activity:
    reversals undo business and closing entries move results between accounts."""
    hits_income = any(chart[line["account"]]["type"] == "income" for line in lines)
    return {"cooperative_id": cooperative_id, "entry_id": entry_id, "date": day, "memo": memo, "kind": kind,
            "lines": lines, "business_activity": hits_income and kind in ("manual", "integration"),
            "member_business": member_business(lines, chart), "source": dict(source) if source else None,
            "reverses": reverses}


def reversed_lines(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**line, "debit": line["credit"], "credit": line["debit"]} for line in lines]


def line(account: str, debit: int = 0, credit: int = 0, member_id: str | None = None) -> dict[str, Any]:
    return {"account": account, "debit": debit, "credit": credit, "member_id": member_id}


# -- SHU ----------------------------------------------------------------------------------------------
def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights`, in whole units that add up to `total` exactly:
    everyone gets the floor of their quota, the units left go to the largest remainders (ties:
    the earlier weight). 1000 over 1:1:1 → 334, 333, 333."""
    whole = sum(weights)
    if total < 0 or whole <= 0 or any(w < 0 for w in weights):
        raise ValueError("a non-negative total over non-negative weights with a positive sum")
    quotas = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(quotas)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        quotas[index] += 1
    return quotas


def distribute(amount: int, basis: Mapping[str, int]) -> dict[str, int]:
    """`amount` over members by their basis (members in id order, so ties are reproducible)."""
    members = sorted(member for member, weight in basis.items() if weight > 0)
    if not members:
        return {}
    return dict(zip(members, largest_remainder(amount, [basis[m] for m in members]), strict=True))


def shu_distribution(shu: int, allocation: Mapping[str, int], modal_basis: Mapping[str, int],
                     usaha_basis: Mapping[str, int]) -> dict[str, Any]:
    """Pools by the RAT's percentages, then jasa modal and jasa usaha per member.

    A loss or a zero result distributes nothing. A member pool with nobody to share it
    (no savings, or no member business) goes to the reserve instead.
    """
    if shu <= 0:
        return {"shu": shu, "pools": {pool: 0 for pool in SHU_POOLS}, "members": []}
    pools = dict(zip(SHU_POOLS, largest_remainder(shu, [allocation.get(p, 0) for p in SHU_POOLS]),
                     strict=True))
    shares = {}
    for pool, basis in (("jasa_modal", modal_basis), ("jasa_usaha", usaha_basis)):
        shares[pool] = distribute(pools[pool], basis)
        if not shares[pool]:
            pools["reserve"], pools[pool] = pools["reserve"] + pools[pool], 0
    members = []
    for member in sorted({*shares["jasa_modal"], *shares["jasa_usaha"]}):
        modal, usaha = shares["jasa_modal"].get(member, 0), shares["jasa_usaha"].get(member, 0)
        if modal + usaha:
            members.append({"member_id": member, "jasa_modal": modal, "jasa_usaha": usaha,
                            "total": modal + usaha})
    return {"shu": shu, "pools": pools, "members": members}
