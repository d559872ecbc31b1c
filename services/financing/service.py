"""The financing nameko service ("financing"): thin entrypoints over application.py.

Commands take `context: {command_id, correlation_id}`; a repeated command_id stores nothing new
and answers as the first time. Errors are shared.aggregate.DomainError with the codes
validation_error (fields), not_found, conflict, illegal_transition, overpayment, unavailable.
Queries take `viewer` ({member_id} or {partner_id}; None for the cooperative's board and the
network admin): a contract the viewer is not entitled to is not_found.

The daily overdue sweep is a timer (hourly: a sweep is idempotent per contract and day, so the
first run after midnight WIB does the day's work and the rest find nothing new).
"""
from __future__ import annotations

import eventlet
from nameko.rpc import RpcProxy
from nameko.timer import timer

from shared.aggregate import DomainError
from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider, rpc

from .application import Financing
from .policies import books_policy
from .projections import ContractIndex, PartnerDirectory
from .schemas import local_today, registry

definition = ServiceDefinition("financing", registry, projections=[PartnerDirectory(), ContractIndex()],
                               policies=[books_policy])
MEMBERSHIP_TIMEOUT = 3.0  # seconds: an application waits no longer for membership's answer
SWEEP_INTERVAL = 3600


class FinancingService:
    name = "financing"
    kernel = KernelProvider(definition)
    membership = RpcProxy("membership")

    @property
    def financing(self) -> Financing:
        return Financing(self.kernel.application, self.kernel.database, self._member_status)

    def _member_status(self, cooperative_id: str, member_id: str) -> str | None:
        with eventlet.Timeout(MEMBERSHIP_TIMEOUT, False):
            return self.membership.member_status(cooperative_id, member_id)
        raise DomainError("unavailable", "membership did not answer; nothing was changed, try again")

    @timer(interval=SWEEP_INTERVAL)
    def sweep_overdue(self):
        return self.financing.sweep_overdue(local_today())

    @rpc
    def register_partner(self, data, context=None):
        return self.financing.register_partner(data, context)

    @rpc
    def get_partner(self, partner_id):
        return self.financing.get_partner(partner_id)

    @rpc
    def list_partners(self, limit=50, cursor=None):
        return self.financing.list_partners(limit, cursor)

    @rpc
    def apply(self, cooperative_id, data, context=None):
        return self.financing.apply(cooperative_id, data, context)

    @rpc
    def act(self, cooperative_id, contract_id, action, data=None, context=None):
        return self.financing.act(cooperative_id, contract_id, action, data, context)

    @rpc
    def pay(self, cooperative_id, contract_id, data, context=None):
        return self.financing.pay(cooperative_id, contract_id, data, context)

    @rpc
    def waive_late_fee(self, cooperative_id, contract_id, due_on, data=None, context=None):
        return self.financing.waive_late_fee(cooperative_id, contract_id, due_on, data, context)

    @rpc
    def report_profit(self, cooperative_id, contract_id, data, context=None):
        return self.financing.report_profit(cooperative_id, contract_id, data, context)

    @rpc
    def claim_guarantee(self, cooperative_id, contract_id, data, context=None):
        return self.financing.claim_guarantee(cooperative_id, contract_id, data, context)

    @rpc
    def restructure(self, cooperative_id, contract_id, data, context=None):
        return self.financing.restructure(cooperative_id, contract_id, data, context)

    @rpc
    def get_contract(self, cooperative_id, contract_id, viewer=None):
        return self.financing.get_contract(cooperative_id, contract_id, viewer)

    @rpc
    def list_contracts(self, cooperative_id, filters=None, limit=50, cursor=None, viewer=None):
        return self.financing.list_contracts(cooperative_id, filters, limit, cursor, viewer)


service_class = FinancingService
