"""Read models: the partner directory and the contract index (what lists filter on: tenant,
member, product, status, the funding partner and the guarantor). A contract's full state is
read from its stream; the index only finds contracts."""
from __future__ import annotations

from mongoengine import StringField

from shared.envelope import Envelope
from shared.projection import Projection, ReadModel, View

PARTNERS = "financing_partners"
CONTRACTS = "financing_contracts"


class PartnerEntry(ReadModel):
    """A partner in the directory (PartnerDirectory writes it); listed in `_id` order."""

    meta = {"collection": "partners"}
    name = StringField()
    kind = StringField()


class ContractEntry(ReadModel):
    """A contract in the index (ContractIndex writes it): what lists filter on."""

    meta = {"collection": "contracts",
            "indexes": [("cooperative_id", "status"), ("cooperative_id", "member_id"), "partner_id",
                        "guarantor_id", "status"]}
    contract_id = StringField()
    cooperative_id = StringField()
    member_id = StringField()
    product = StringField()
    partner_id = StringField()
    guarantor_id = StringField()
    applied_on = StringField()
    status = StringField()


class PartnerDirectory(Projection):
    name = PARTNERS
    collections = ("partners",)
    documents = (PartnerEntry,)
    handles = frozenset({"financing.PartnerRegistered"})

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        view.create("partners", payload["partner_id"], {
            "id": payload["partner_id"], "name": payload["name"], "kind": payload["kind"]})


class ContractIndex(Projection):
    name = CONTRACTS
    collections = ("contracts",)
    documents = (ContractEntry,)
    handles = frozenset(f"financing.{name}" for name in (
        "ContractApplied", "ContractApproved", "ContractRejected", "ContractSigned", "ContractDisbursed",
        "InstalmentLate", "PaymentReceived", "GuaranteeClaimed", "ContractRestructured", "ContractSettled",
        "ContractWrittenOff"))

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        if event.name == "ContractApplied":
            guarantee = payload["guarantee"] or {}
            view.create("contracts", payload["contract_id"], {
                **{key: payload[key] for key in ("contract_id", "cooperative_id", "member_id", "product",
                                                  "partner_id", "applied_on")},
                "guarantor_id": guarantee.get("partner_id"), "status": "applied"})
            return
        doc = view.get("contracts", payload["contract_id"])
        if doc is not None:
            view.put("contracts", payload["contract_id"], {**doc, "status": payload["status"]})
