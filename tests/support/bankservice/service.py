"""The bank test service: the kernel wired into nameko the way a kopnet service is."""
from nameko.rpc import rpc

from shared.application import CommandContext
from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider

from .domain import Account
from .projections import Balances, CooperativeTotals
from .schemas import registry

definition = ServiceDefinition("bank", registry, [Balances(), CooperativeTotals()])


class BankService:
    name = "bank"
    kernel = KernelProvider(definition)

    @rpc
    def open(self, account_id: str, cooperative_id: str, owner: str) -> int:
        outcome = self.kernel.application.execute(Account, account_id, lambda a: a.open(cooperative_id, owner))
        return outcome.aggregate.version

    @rpc
    def deposit(self, account_id: str, amount: int, command_id: str | None = None) -> int:
        outcome = self.kernel.application.execute(
            Account, account_id, lambda a: a.deposit(amount), CommandContext.new(command_id=command_id))
        return outcome.aggregate.balance

    @rpc
    def echo(self, value):
        return value
