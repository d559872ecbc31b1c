"""The regulator's part of the demo network (`demo.main` calls `load`): ten cooperatives in ten
regencies with a year of backdated books, so that every part of the dashboard shows something
real — healthy and loss-making cooperatives, one asleep for over a year (its last entries 14–17
months old), two without a RAT, one that holds its RAT but keeps its books offline, one just
founded — and last year's books closed through kopnet by most of them.

Everything goes through the public API, like a cooperative moving its books to kopnet: members
admitted 18 months ago, savings and journal entries dated in the past, last fiscal year's RAT,
then that year closed. Dates follow today; every POST's Idempotency-Key names the step and its
date, so loading again the same month replays; a later month adds that month's entries only
(an entry that would land in a closed year is skipped, as the ledger refuses it).
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from services.membership.schemas import local_today

from .auth import Principal

if TYPE_CHECKING:  # demo.py imports this module: no import back at run time
    from .demo import DemoClient


@dataclass(frozen=True)
class Profile:
    name: str
    number: str
    kind: str
    regency: str
    sales: int            # monthly sales to members (rupiah)
    expense_percent: int  # monthly expenses as a percent of sales
    rat: bool = True      # holds last fiscal year's RAT
    close: bool = True    # closes last fiscal year through kopnet
    asleep: bool = False  # nothing booked in the last 12 months
    sukarela: int = 2_000_000  # each member's voluntary savings at admission (what the cash is owed to)
    founded_on: str | None = "2012-05-02"  # None: founded this January


PROFILES = [
    Profile("KSP Sejahtera Bersama", "3273012008000501", "ksp", "kota-bandung", 9_000_000, 55),
    Profile("KSPPS Amanah Ummat", "3201022009000502", "kspps", "kabupaten-bogor", 7_500_000, 60),
    Profile("Koperasi Wanita Melati", "3276032011000503", "konsumen", "kota-depok", 4_000_000, 58),
    Profile("Koperasi Karyawan Cimahi Mandiri", "3277042013000504", "konsumen", "kota-cimahi", 5_500_000, 70),
    Profile("Koperasi Produsen Tani Makmur", "3205052014000505", "produsen", "kabupaten-garut", 3_000_000, 75,
            close=False),
    Profile("KSP Dana Mandiri", "3216062015000506", "ksp", "kabupaten-bekasi", 2_000_000, 115,
            sukarela=15_000_000),
    Profile("Koperasi Nelayan Pangandaran", "3218072016000507", "produsen", "kabupaten-pangandaran",
            1_200_000, 130, rat=False, close=False, sukarela=6_000_000),
    Profile("Kopontren Nurul Huda", "3206082017000508", "produsen", "kabupaten-tasikmalaya", 1_500_000, 90,
            rat=False, close=False),
    Profile("Koperasi Jasa Citarum", "3215092009000509", "jasa", "kabupaten-karawang", 2_500_000, 80,
            rat=False, close=False, asleep=True),
    Profile("Koperasi Pemasaran Kopi Cirebon", "3209102026000510", "pemasaran", "kabupaten-cirebon", 0, 0,
            rat=False, close=False, founded_on=None),
]
MEMBERS = ("Euis Komariah", "Ujang Supriatna")
BYLAWS = {"pokok_amount": 500_000, "wajib_amount": 50_000, "quorum_percent": 50}


def months_back(today: date, count: int) -> date:
    """The 10th of the month `count` months before today's (today itself when that is earlier)."""
    index = today.year * 12 + today.month - 1 - count
    day = date(index // 12, index % 12 + 1, 10)
    return min(day, today)


def founded_on(profile: Profile, today: date) -> str:
    """A profile founded "this year" is founded this January (never in the future)."""
    return profile.founded_on or min(date(today.year, 1, 5), today).isoformat()


def get(client: DemoClient, principal: Principal, path: str) -> int:
    request = urllib.request.Request(client.base + path,
                                     headers={"Authorization": f"Bearer {client.token(principal)}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def until(condition: Any, what: str, timeout: float = 60.0) -> None:
    """Waits for another service's policy (the ledger opening books from membership's events)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def post_unless_closed(client: DemoClient, principal: Principal, path: str, body: dict[str, Any],
                       step: str) -> None:
    """A POST dated in a year closed since an earlier load is refused (422): nothing to do."""
    try:
        client.post(principal, path, body, step)
    except RuntimeError as error:
        if "fiscal_year_closed" not in str(error):
            raise


def entry(day: date, memo: str, lines: list[tuple]) -> dict[str, Any]:
    return {"date": day.isoformat(), "memo": memo, "lines": [
        {"account": code, "debit": debit, "credit": credit, **({"member_id": member} if member else {})}
        for code, debit, credit, member in lines]}


def book_month(client: DemoClient, board: Principal, coop: str, members: list[str], profile: Profile,
               day: date) -> None:
    """A month of business: sales to each member (their jasa usaha), the month's expenses, and
    simpanan wajib every quarter."""
    base, key = f"/cooperatives/{coop}", f"health:{profile.number}:{day.isoformat()}"
    share = profile.sales // len(members)
    sales = [("1101", profile.sales, 0, None)] + [("4101", 0, share, m) for m in members]
    post_unless_closed(client, board, f"{base}/journal-entries", entry(day, "Penjualan ke anggota", sales),
                       f"{key}:sales")
    cost = profile.sales * profile.expense_percent // 100
    post_unless_closed(client, board, f"{base}/journal-entries",
                       entry(day, "Beban usaha", [("5102", cost, 0, None), ("1101", 0, cost, None)]),
                       f"{key}:expense")
    if day.month % 3 == 0:
        for member in members:
            post_unless_closed(client, board, f"{base}/members/{member}/savings/wajib/deposits",
                               {"amount": 3 * BYLAWS["wajib_amount"], "date": day.isoformat()},
                               f"{key}:wajib:{member}")


def load_cooperative(client: DemoClient, profile: Profile, today: date) -> str:
    admin = Principal("network_admin")
    body = {"name": profile.name, "registration_number": profile.number, "kind": profile.kind,
            "regency": profile.regency, "is_pesantren": profile.name.startswith("Kopontren"),
            "founded_on": founded_on(profile, today), "bylaws": BYLAWS}
    coop = client.post(admin, "/cooperatives", body, f"register:{profile.number}")["id"]
    if not profile.sales:
        return coop  # just founded: registered, nothing booked yet
    board, base = Principal("coop_admin", cooperative_id=coop), f"/cooperatives/{coop}"
    joined = months_back(today, 18)
    members = []
    for number, name in enumerate(MEMBERS, start=1):
        step = f"health:{profile.number}:member:{number}"
        # a plausible NIK (membership checks it): the cooperative's province and regency code, born
        # 1 March 1980, the registration number's last digits as the serial
        applied = {"name": name, "nik": f"{profile.number[:4]}{profile.number[-2:]}010380{number:04d}",
                   "phone": f"0813{profile.number[-6:]}{number:02d}", "joined_on": joined.isoformat()}
        member = client.post(board, f"{base}/members", applied, step)["id"]
        client.post(board, f"{base}/members/{member}/admit", {"date": joined.isoformat()}, f"{step}:admit")
        members.append(member)
    for member in members:
        until(lambda m=member: get(client, board, f"{base}/members/{m}/savings") == 200,
              f"{profile.name}'s savings in the ledger")
        post_unless_closed(client, board, f"{base}/members/{member}/savings/pokok/deposits",
                           {"amount": BYLAWS["pokok_amount"], "date": joined.isoformat()},
                           f"health:{profile.number}:pokok:{member}")
        post_unless_closed(client, board, f"{base}/members/{member}/savings/sukarela/deposits",
                           {"amount": profile.sukarela, "date": joined.isoformat()},
                           f"health:{profile.number}:sukarela:{member}")
    backs = range(17, 13, -1) if profile.asleep else range(11, -1, -1)
    months = [months_back(today, back) for back in backs]
    last_year = today.year - 1
    for day in (d for d in months if d.year <= last_year):
        book_month(client, board, coop, members, profile, day)
    if profile.rat:
        from .demo import annual_meeting  # here: demo.py imports this module at its top

        meeting = annual_meeting(today)  # last fiscal year's, both members attending
        client.post(board, f"{base}/annual-meetings", meeting, f"health:{profile.number}:rat:{last_year}",
                    done_already=True)
    if profile.close:
        # the ledger learns of the RAT's resolution from membership's event: retried until it has
        until(lambda: close_year(client, board, base, last_year, profile.number), f"{profile.name}'s close")
    for day in (d for d in months if d.year > last_year):
        book_month(client, board, coop, members, profile, day)
    return coop


def close_year(client: DemoClient, board: Principal, base: str, year: int, number: str) -> bool:
    try:
        client.post(board, f"{base}/fiscal-years/{year}/close", {}, f"health:{number}:close:{year}")
    except RuntimeError as error:
        if "rat_resolution_missing" in str(error):
            return False
        raise
    return True


def load(client: DemoClient, today: date | None = None, profiles: list[Profile] | None = None) -> list[str]:
    """Loads the regulator's demo cooperatives (all PROFILES unless told); answers their ids."""
    today = today or local_today()
    chosen = PROFILES if profiles is None else profiles
    return [load_cooperative(client, profile, today) for profile in chosen]


def summary(ids: list[str]) -> str:
    return f"{len(ids)} cooperatives with a year of books (healthy, loss-making, asleep, no RAT, new)"

