"""Plausible NIKs for tests: the membership service refuses implausible ones (province code,
birth date, serial; services/membership/domain.py nik_problem)."""
from __future__ import annotations

import random


def plausible_nik(number: int | str | None = None) -> str:
    """A NIK that passes every plausibility rule; distinct numbers below 3.3e10 give distinct NIKs
    (None: a random one)."""
    n = random.randrange(3 * 10**10) if number is None else int(number) % (33 * 10**9)
    n, serial = divmod(n, 9999)
    n, day = divmod(n, 28)
    n, month = divmod(n, 12)
    district, year = divmod(n, 100)
    return f"3273{district % 100:02d}{day + 1:02d}{month + 1:02d}{year:02d}{serial + 1:04d}"
