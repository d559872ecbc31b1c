"""Networking's pure rules: stock reservations, order steps and parties, partnerships, search."""
from __future__ import annotations

import pytest

from services.networking.domain import Cooperative, Product
from services.networking.orders import Order
from services.networking.partnerships import Partnership
from services.networking.search import search, words
from shared.aggregate import DomainError

SELLER = {"role": "coop_admin", "cooperative_id": "s"}
BUYER = {"role": "coop_admin", "cooperative_id": "b"}


def cooperative(cid: str, pesantren: bool = False) -> Cooperative:
    c = Cooperative(cid)
    c.record(name=f"Koperasi {cid}", regency="kota-bandung", is_pesantren=pesantren)
    return c


def product(stock: int = 8) -> Product:
    p = Product("p")
    p.list(seller=cooperative("s"), name="Kopi", category="coffee", unit="kg", price=1000, stock=stock,
           description="", halal_certificate=None, opop=False, now="t")
    return p


def test_reservations_never_exceed_stock_and_repeat_per_order_idempotently():
    p = product(2)
    p.reserve("o1", 1)
    p.reserve("o1", 1)  # the same step again: nothing new
    p.reserve("o2", 1)
    with pytest.raises(DomainError) as refused:
        p.reserve("o3", 1)
    assert refused.value.code == "out_of_stock" and p.available == 0
    p.release("o2")
    p.sell("o1")
    assert (p.on_hand, p.available) == (1, 1)
    assert [e.name for e in p.pending_events].count("StockReserved") == 2


def test_opop_only_for_a_pesantren_and_prices_positive():
    with pytest.raises(DomainError) as error:
        Product("x").list(seller=cooperative("s"), name="Sabun", category="crafts", unit="pcs", price=1,
                          stock=1, description="", halal_certificate=None, opop=True, now="t")
    assert error.value.fields == {"opop": ["only a pesantren cooperative lists OPOP products"]}
    with pytest.raises(DomainError):
        product().change(price=0, stock_added=None, delisted=None)


def test_order_steps_check_party_and_order():
    order = Order("o")
    order.place(actor=BUYER, buyer={"cooperative_id": "b"}, seller=cooperative("s"),
                buyer_cooperative=cooperative("b"), lines=[(product(), 3)], payment="cash", now="t")
    assert order.total == 3000
    with pytest.raises(DomainError) as wrong:
        order.confirm(BUYER, "t")
    assert wrong.value.code == "forbidden"
    with pytest.raises(DomainError) as early:
        order.ship(SELLER, "t")
    assert early.value.code == "illegal_transition"
    order.confirm(SELLER, "t")
    order.ship(SELLER, "t")
    with pytest.raises(DomainError):
        order.cancel(BUYER, "t")
    order.deliver(BUYER, "t", "2026-01-02")
    order.settle("t", {"sale": "e1"})
    assert [h["status"] for h in order.history] == ["placed", "confirmed", "shipped", "delivered", "settled"]


def test_no_order_from_oneself_nor_sukarela_elsewhere():
    for buyer, payment in (({"cooperative_id": "s"}, "cash"),
                           ({"cooperative_id": "b", "member_id": "m"}, "sukarela")):
        member = {"role": "member", "cooperative_id": "b", "member_id": "m"}
        actor = SELLER if "member_id" not in buyer else member
        with pytest.raises(DomainError) as error:
            Order("o").place(actor=actor, buyer=buyer, seller=cooperative("s"),
                             buyer_cooperative=cooperative(buyer["cooperative_id"]), lines=[(product(), 1)],
                             payment=payment, now="t")
        assert error.value.code == "validation_error"


def test_partnership_activates_in_the_commit_of_the_last_signature():
    p = Partnership("k")
    p.propose(actor=SELLER, title="Kerjasama", parties=[{"cooperative_id": "s"}, {"partner_id": "bank"}],
              feed_entitled=True, starts_on="2026-01-01", ends_on=None)
    p.sign(SELLER, "2026-01-02")
    p.sign({"role": "partner", "partner_id": "bank"}, "2026-01-03")
    assert [e.name for e in p.pending_events][-2:] == ["PartnershipSigned", "PartnershipActivated"]
    assert p.status == "active"


def test_search_words_and_relevance():
    assert words("Kopi ARABIKA, Garut-Jawa dan lain") == ["kopi", "arabika", "garut", "jawa", "lain"]
    index = {"w:kopi": {"a": 3, "b": 1}, "w:garut": {"b": 3}, "*": {"a": 1, "b": 1, "c": 1},
             "halal": {"c": 1}, "s:gone": {"a": 1}}
    postings = lambda term: index.get(term, {})  # noqa: E731
    assert search({"q": "KOPI"}, postings, set()) == ["a", "b"]
    assert search({"q": "kopi garut"}, postings, set()) == ["b"]
    assert search({"halal": False}, postings, set()) == ["a", "b"]
    assert search({"q": "kopi"}, postings, {"gone"}) == ["b"]
    assert search({"q": "dan"}, postings, set()) == []
