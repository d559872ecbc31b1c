"""The networking nameko service: thin RPC entrypoints over application.py and catalog.py.

Commands take `context: {command_id, correlation_id}` (a repeated command_id stores nothing
new) and, where the parties matter, `actor: {role, cooperative_id, member_id, partner_id}` — the
caller's verified principal (the gateway passes the token's claims): only the order or the
partnership knows its parties, so the 403s of those steps are decided here.
"""
from __future__ import annotations

from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider, rpc

from .application import Networking
from .clients import Services
from .policies import membership_events, order_saga
from .projections import PROJECTIONS
from .schemas import registry

definition = ServiceDefinition("networking", registry, projections=[cls() for cls in PROJECTIONS],
                               policies=[membership_events, order_saga])


class NetworkingService:
    name = "networking"
    kernel = KernelProvider(definition)

    @property
    def networking(self) -> Networking:
        return Networking(self.kernel, Services(self.kernel.settings.amqp_uri))

    @rpc
    def list_product(self, cooperative_id, data, context=None):
        return self.networking.catalog.list_product(cooperative_id, data, context)

    @rpc
    def change_product(self, cooperative_id, product_id, data, context=None):
        return self.networking.catalog.change_product(cooperative_id, product_id, data, context)

    @rpc
    def get_product(self, cooperative_id, product_id):
        return self.networking.catalog.get_product(cooperative_id, product_id)

    @rpc
    def search_catalog(self, query):
        return self.networking.catalog.search(query)

    @rpc
    def place_order(self, actor, data, context=None):
        return self.networking.place_order(actor, data, context)

    @rpc
    def confirm_order(self, actor, order_id, context=None):
        return self.networking.confirm_order(actor, order_id, context)

    @rpc
    def ship_order(self, actor, order_id, context=None):
        return self.networking.ship_order(actor, order_id, context)

    @rpc
    def deliver_order(self, actor, order_id, context=None):
        return self.networking.deliver_order(actor, order_id, context)

    @rpc
    def cancel_order(self, actor, order_id, context=None):
        return self.networking.cancel_order(actor, order_id, context)

    @rpc
    def get_order(self, actor, order_id):
        return self.networking.get_order(actor, order_id)

    @rpc
    def list_orders(self, actor, status=None, limit=50, cursor=None):
        return self.networking.list_orders(actor, status, limit, cursor)

    @rpc
    def propose_partnership(self, actor, data, context=None):
        return self.networking.propose_partnership(actor, data, context)

    @rpc
    def sign_partnership(self, actor, partnership_id, context=None):
        return self.networking.sign_partnership(actor, partnership_id, context)

    @rpc
    def end_partnership(self, actor, partnership_id, context=None):
        return self.networking.end_partnership(actor, partnership_id, context)

    @rpc
    def get_partnership(self, actor, partnership_id):
        return self.networking.get_partnership(actor, partnership_id)

    @rpc
    def list_partnerships(self, actor, limit=50, cursor=None):
        return self.networking.list_partnerships(actor, limit, cursor)


service_class = NetworkingService
