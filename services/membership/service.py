"""The membership nameko service: thin RPC entrypoints over the use cases in application.py."""
from __future__ import annotations

from nameko.dependency_providers import Config

from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider, rpc

from . import health_schemas  # noqa: F401 - registers the HealthRecord's events
from .application import Membership, close_policy
from .domain import REGENCIES
from .health_application import HealthQueries, health_record_policy
from .health_view import CooperativeHealthView
from .nik import warn_if_development_key
from .projections import CooperativeDirectory, MemberList
from .schemas import registry

definition = ServiceDefinition("membership", registry,
                               projections=[CooperativeDirectory(), MemberList(), CooperativeHealthView()],
                               policies=[health_record_policy, close_policy])
DEFAULT_REPORTING_TARGET = 60  # percent of registered cooperatives reporting online


class MembershipKernel(KernelProvider):
    def setup(self) -> None:
        warn_if_development_key()  # KOPNET_NIK_KEY: the NIK claims' HMAC key (services/membership/nik.py)
        super().setup()


class MembershipService:
    name = "membership"
    kernel = MembershipKernel(definition)
    config = Config()

    @property
    def membership(self) -> Membership:
        return Membership(self.kernel)

    @rpc
    def register_cooperative(self, data, context=None):
        return self.membership.register_cooperative(data, context)

    @rpc
    def list_cooperatives(self, filters=None, limit=None, cursor=None):
        return self.membership.list_cooperatives(filters, limit, cursor)

    @rpc
    def get_cooperative(self, cooperative_id):
        return self.membership.get_cooperative(cooperative_id)

    @rpc
    def dissolve_cooperative(self, cooperative_id, context=None):
        return self.membership.dissolve_cooperative(cooperative_id, context)

    @rpc
    def apply_member(self, cooperative_id, data, context=None):
        return self.membership.apply_member(cooperative_id, data, context)

    @rpc
    def list_members(self, cooperative_id, limit=None, cursor=None, status=None):
        return self.membership.list_members(cooperative_id, limit, cursor, status)

    @rpc
    def get_member(self, cooperative_id, member_id):
        return self.membership.get_member(cooperative_id, member_id)

    @rpc
    def change_member_status(self, cooperative_id, member_id, action, context=None, on=None, reason=None):
        return self.membership.change_member_status(cooperative_id, member_id, action, context, on, reason)

    @rpc
    def correct_member(self, cooperative_id, member_id, data, context=None):
        return self.membership.correct_member(cooperative_id, member_id, data, context)

    @rpc
    def record_annual_meeting(self, cooperative_id, data, context=None):
        return self.membership.record_annual_meeting(cooperative_id, data, context)

    @rpc
    def correct_annual_meeting(self, cooperative_id, fiscal_year, data, context=None):
        return self.membership.correct_annual_meeting(cooperative_id, fiscal_year, data, context)

    @rpc
    def network_health(self, today=None):
        return self.membership.network_health(today)

    @rpc
    def cooperative_health(self, cooperative_id):
        return HealthQueries(self.kernel).cooperative_health(cooperative_id)

    @rpc
    def network_dashboard(self):
        target = (self.config.get("HEALTH") or {}).get("REPORTING_TARGET_PERCENT", DEFAULT_REPORTING_TARGET)
        return HealthQueries(self.kernel).network_dashboard(REGENCIES, int(target))

    @rpc
    def member_status(self, cooperative_id, member_id):
        return self.membership.member_status(cooperative_id, member_id)

    @rpc
    def member_admission(self, cooperative_id, member_id):
        return self.membership.member_admission(cooperative_id, member_id)

    @rpc
    def cooperative_bylaws(self, cooperative_id):
        return self.membership.cooperative_bylaws(cooperative_id)


service_class = MembershipService
