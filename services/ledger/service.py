"""The ledger nameko service ("ledger"): thin RPC entrypoints over application.py.

Commands take `context: {command_id, correlation_id}`; a repeated command_id stores nothing
new and answers as the first time. Errors are shared.aggregate.DomainError with the codes
validation_error (fields), not_found, conflict, unbalanced_entry, fiscal_year_closed,
fiscal_year_not_ended, earlier_fiscal_year_open, insufficient_balance, rat_resolution_missing.

Integration path for other services (financing, networking) — the contract:

    post_entry(cooperative_id, entry, source, context=None) -> entry
      entry   {date: "YYYY-MM-DD", memo, lines: [{account, debit, credit, member_id?}]}
              (the rules of post_journal_entry: balanced, positive integer rupiah, debit xor
              credit per line, at least two lines, accounts of the chart, a date in an open
              fiscal year; the member savings accounts 3101, 3102, 2101 are not postable)
      source  {service: "financing", id: "<that service's id for this posting>"}

    Idempotent per source: the command id is derived from (cooperative, service, id), so the
    same source posts at most once, ever; a repeat answers with the first entry (even if its
    body differs). Call it from a policy of your own events with source.id = your event_id
    (or a stable id per money movement). An income line that names a member_id counts as that
    member's business (jasa usaha) for SHU. The entry is published as ledger.JournalEntryPosted
    {kind: "integration", source, ...}. A DomainError is final for that body; StoreUnavailable
    or a timeout may be retried with the same source.
"""
from __future__ import annotations

from nameko.rpc import RpcProxy

from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider, rpc

from .application import Ledger
from .lookups import bounded_admission
from .policies import membership_policy
from .projections import PROJECTIONS
from .schemas import registry

definition = ServiceDefinition("ledger", registry, projections=[cls() for cls in PROJECTIONS],
                               policies=[membership_policy])


class LedgerService:
    name = "ledger"
    kernel = KernelProvider(definition)
    membership = RpcProxy("membership")

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.kernel.application, self.kernel.database,
                      admission=bounded_admission(self.membership))

    @rpc
    def list_accounts(self, cooperative_id):
        return self.ledger.list_accounts(cooperative_id)

    @rpc
    def add_account(self, cooperative_id, data, context=None):
        return self.ledger.add_account(cooperative_id, data, context)

    @rpc
    def change_account(self, cooperative_id, code, data, context=None):
        return self.ledger.change_account(cooperative_id, code, data, context)

    @rpc
    def remove_account(self, cooperative_id, code, context=None):
        return self.ledger.remove_account(cooperative_id, code, context)

    @rpc
    def post_journal_entry(self, cooperative_id, data, context=None):
        return self.ledger.post_journal_entry(cooperative_id, data, context)

    @rpc
    def post_entry(self, cooperative_id, entry, source, context=None):
        return self.ledger.post_entry(cooperative_id, entry, source, context)

    @rpc
    def list_journal(self, cooperative_id, query=None):
        return self.ledger.list_journal(cooperative_id, query)

    @rpc
    def reverse_journal_entry(self, cooperative_id, entry_id, context=None):
        return self.ledger.reverse_journal_entry(cooperative_id, entry_id, context)

    @rpc
    def deposit(self, cooperative_id, member_id, kind, data, context=None):
        return self.ledger.deposit(cooperative_id, member_id, kind, data, context)

    @rpc
    def withdraw(self, cooperative_id, member_id, data, context=None):
        return self.ledger.withdraw(cooperative_id, member_id, data, context)

    @rpc
    def get_savings(self, cooperative_id, member_id):
        return self.ledger.get_savings(cooperative_id, member_id)

    @rpc
    def member_statement(self, cooperative_id, member_id, from_=None, to=None):
        return self.ledger.member_statement(cooperative_id, member_id, from_, to)

    @rpc
    def report(self, cooperative_id, name, as_of=None, from_=None, to=None):
        return self.ledger.report(cooperative_id, name, as_of, from_, to)

    @rpc
    def close_fiscal_year(self, cooperative_id, year, context=None):
        return self.ledger.close_fiscal_year(cooperative_id, year, context)

    @rpc
    def pay_shu(self, cooperative_id, year, data, context=None):
        return self.ledger.pay_shu(cooperative_id, year, data, context)

    @rpc
    def get_shu(self, cooperative_id, year, member_id=None):
        return self.ledger.get_shu(cooperative_id, year, member_id)


service_class = LedgerService
