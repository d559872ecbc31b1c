"""The demo network's e-commerce (issue 12), loaded through the public API by demo.load: products
in several categories and regencies (Java Preanger coffee, OPOP products of the Garut pesantren,
Tasikmalaya fashion and crafts, Bandung rice and snacks), a settled B2B cash order, a settled B2C
sukarela order, a cancelled order, and a feed_entitled partnership between the coffee cooperative
and the bank the financing demo registers. Every POST carries an Idempotency-Key derived from its
step, so loading it again replays; settlement itself is asynchronous (the saga), not awaited here.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from .auth import Principal

# demo.COOPERATIVES' order: 0 konsumen (Bandung), 1 KSPPS (Tasikmalaya), 2 pesantren (Garut),
# 3 Java Preanger coffee (Bandung Barat)
PRODUCTS: list[tuple[int, dict[str, Any]]] = [
    (3, {"name": "Kopi Arabika Java Preanger", "category": "coffee", "unit": "kg", "price": 180_000,
         "stock": 40,
         "description": "biji kopi petik merah dari lereng Gunung Burangrang, olah basah"}),
    (3, {"name": "Kopi Robusta Bubuk Preanger", "category": "coffee", "unit": "pak 250 g", "price": 35_000,
         "stock": 120, "description": "sangrai sedang, giling halus untuk kopi tubruk"}),
    (2, {"name": "Dodol Garut Santri", "category": "food_drink", "unit": "kotak", "price": 25_000,
         "stock": 60,
         "description": "dodol ketan gula aren buatan santri", "halal_certificate": "ID32110000123450124",
         "opop": True}),
    (2, {"name": "Sabun Herbal Santri", "category": "crafts", "unit": "batang", "price": 12_000, "stock": 80,
         "description": "sabun sereh dan zaitun produk OPOP pesantren", "opop": True}),
    (1, {"name": "Kerudung Bordir Tasikmalaya", "category": "fashion", "unit": "pcs", "price": 95_000,
         "stock": 30, "description": "bordir tangan motif bunga, katun paris"}),
    (1, {"name": "Payung Geulis", "category": "crafts", "unit": "pcs", "price": 150_000, "stock": 12,
         "description": "payung kertas lukis tangan khas Tasikmalaya"}),
    (1, {"name": "Tas Anyaman Mendong", "category": "accessories", "unit": "pcs", "price": 65_000,
         "stock": 25,
         "description": "anyaman mendong Rajapolah"}),
    (0, {"name": "Beras Pandan Wangi Cianjur", "category": "agriculture", "unit": "karung 5 kg",
         "price": 85_000, "stock": 50, "description": "beras pulen panen baru"}),
    (0, {"name": "Keripik Singkong Pedas", "category": "food_drink", "unit": "pak", "price": 15_000,
         "stock": 100,
         "description": "renyah, tanpa pengawet", "halal_certificate": "ID32040000987650224"}),
]
SUKARELA_DEPOSIT = 500_000


def load_networking(client: Any, cooperatives: list[str], member: str, partner: str, today: date) -> dict:
    """Products, three orders and a partnership; answers their ids ({"products", "orders", "partnership"}).
    `member` is an admitted member of cooperatives[0]; `partner` a registered partner institution."""
    boards = [Principal("coop_admin", cooperative_id=cooperative) for cooperative in cooperatives]
    products = [client.post(boards[seller], f"/cooperatives/{cooperatives[seller]}/products", body,
                            f"networking:product:{number}")["id"]
                for number, (seller, body) in enumerate(PRODUCTS)]
    coffee, dodol, rice = products[0], products[2], products[7]

    def order(step: str, buyer: Principal, seller: int, body: dict[str, Any], actions: list[str]) -> str:
        placed = client.post(buyer, "/orders", {**body, "seller_cooperative_id": cooperatives[seller]},
                             f"networking:order:{step}")["id"]
        for action in actions:  # confirm and ship by the seller's board; deliver and cancel by the buyer
            actor = boards[seller] if action in ("confirm", "ship") else buyer
            client.post(actor, f"/orders/{placed}/{action}", {}, f"networking:order:{step}:{action}")
        return placed

    # B2B: the konsumen cooperative buys Java Preanger coffee for its shop, paid in cash
    b2b = order("b2b", boards[0], 3, {"buyer": {"cooperative_id": cooperatives[0]},
                                      "lines": [{"product_id": coffee, "quantity": 5}], "payment": "cash"},
                ["confirm", "ship", "deliver"])
    # B2C: a member buys rice from their own cooperative, paid from their sukarela savings
    client.post(boards[0], f"/cooperatives/{cooperatives[0]}/members/{member}/savings/sukarela/deposits",
                {"amount": SUKARELA_DEPOSIT, "date": today.isoformat()}, "networking:sukarela-deposit")
    buyer = Principal("member", cooperative_id=cooperatives[0], member_id=member)
    b2c = order("b2c", buyer, 0, {"buyer": {"cooperative_id": cooperatives[0], "member_id": member},
                                  "lines": [{"product_id": rice, "quantity": 2}], "payment": "sukarela"},
                ["confirm", "ship", "deliver"])
    # cancelled after confirmation: the KSPPS called off its dodol order (the stock is released)
    cancelled = order("cancelled", boards[1], 2, {"buyer": {"cooperative_id": cooperatives[1]},
                                                  "lines": [{"product_id": dodol, "quantity": 10}],
                                                  "payment": "cash"}, ["confirm", "cancel"])
    # the bank follows the coffee cooperative's events in its feed
    partnership = client.post(boards[3], "/partnerships", {
        "title": "Pembiayaan rantai pasok kopi Java Preanger", "feed_entitled": True,
        "parties": [{"cooperative_id": cooperatives[3]}, {"partner_id": partner}],
        "starts_on": today.isoformat()}, "networking:partnership")["id"]
    for step, signer in (("coop", boards[3]), ("partner", Principal("partner", partner_id=partner))):
        client.post(signer, f"/partnerships/{partnership}/sign", {}, f"networking:partnership:sign:{step}")
    return {"products": products, "orders": {"b2b": b2b, "b2c": b2c, "cancelled": cancelled},
            "partnership": partnership}
