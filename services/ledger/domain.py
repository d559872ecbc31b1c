"""The ledger's aggregates: a cooperative's Books and each member's SavingsAccount.

Pure: standard library and shared only; commands take `today` and ids from the caller.

Books (stream id = cooperative id) holds the chart, the RAT resolutions, the fiscal-year lock
and every journal entry that is not a savings movement: manual, integration, reversal and
closing entries. Its state keeps the entries, results and member business of the open years
only (a closed year can never change again).

SavingsAccount (stream id = "<cooperative>:<member>") holds one member's pokok, wajib and
sukarela. Each movement is committed together with its `JournalEntryPosted` event: one
commit, one stream, so savings and books cannot disagree, and the optimistic version check
that keeps sukarela ≥ 0 under racing withdrawals covers the entry too.

Year-end lock across both: closing year Y first records `FiscalYearClosing` in Books (from
then on Books refuses entries dated ≤ Y and new savings accounts start locked through Y),
then locks every enrolled member's SavingsAccount through Y (`SavingsYearLocked`), and only
then computes SHU and records `FiscalYearClosed` with the closing entries. Every entry dated
inside Y is therefore refused atomically by the stream that would hold it.
"""
from __future__ import annotations

from .books import Books, require_books_open
from .savings import SavingsAccount

# The aggregates live in books.py and savings.py; this module keeps `services.ledger.domain`
# importable as before.
__all__ = ["Books", "SavingsAccount", "require_books_open"]
