"""The ledger: each cooperative's double-entry books, member savings, reports and SHU."""
