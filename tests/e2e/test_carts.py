"""Stories of a basket: an open cart waits in Mailchimp for the abandoned-cart email; buying
removes it; a cart older than the purchase never comes back."""

from __future__ import annotations

PERSON = {"id": "C-7", "email": "cart@example.com", "phone": "+380501112233"}
LINE = {
    "id": "l1",
    "sku": "MUG-01",
    "product_id": "77",
    "name": "Mug",
    "quantity": 3,
    "price": "300.00",
    "total": "900.00",
}


def cart(updated_at: str, **extra) -> dict:
    return {
        "id": "cart-9f1c",
        "customer": PERSON,
        "currency": "UAH",
        "total": "900.00",
        "checkout_url": "https://shop.example.com/checkout?cart=9f1c",
        "created_at": "2026-11-21T10:00:00+00:00",
        "updated_at": updated_at,
        "lines": [LINE],
    } | extra


def order(updated_at: str) -> dict:
    return {
        "id": "W-100",
        "number": "100",
        "status": "paid",
        "currency": "UAH",
        "totals": {"total": "900.00"},
        "customer": PERSON,
        "lines": [LINE],
        "created_at": updated_at,
        "updated_at": updated_at,
    }


def test_an_open_cart_becomes_a_mailchimp_cart_with_its_checkout_url(world):
    world.shop_event("cart.updated", cart("2026-11-21T10:05:00+00:00"))
    world.settle()

    [mc_cart] = world.store_items("carts").values()
    assert mc_cart["checkout_url"] == "https://shop.example.com/checkout?cart=9f1c"
    assert mc_cart["customer"]["email_address"] == "cart@example.com"
    assert [(ln["product_id"], ln["quantity"]) for ln in mc_cart["lines"]] == [("77", 3)]
    assert world.dead_letters() == []


def test_buying_removes_the_cart_and_an_older_cart_is_not_created_again(world):
    world.shop_event("cart.updated", cart("2026-11-21T10:05:00+00:00"))
    world.settle()
    assert len(world.store_items("carts")) == 1

    world.shop_event("order.created", order("2026-11-21T10:10:00+00:00"))
    world.settle()
    assert world.store_items("carts") == {}
    assert len(world.store_items("orders")) == 1

    # the shop sends a cart change from before the purchase, late
    world.shop_event("cart.updated", cart("2026-11-21T10:08:00+00:00", total="600.00"))
    world.settle()
    assert world.store_items("carts") == {}
    assert world.dead_letters() == []


def test_a_deleted_cart_is_removed_from_mailchimp(world):
    world.shop_event("cart.updated", cart("2026-11-21T10:05:00+00:00"))
    world.settle()

    world.shop_event("cart.deleted", cart("2026-11-21T10:06:00+00:00", lines=[]))
    world.settle()

    assert world.store_items("carts") == {}
