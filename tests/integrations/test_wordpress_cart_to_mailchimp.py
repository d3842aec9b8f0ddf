"""A WooCommerce cart, as the WordPress plugin signs it (php-cli), reaches Mailchimp through the
connector's carts flow on the sandbox, and leaves it when the order is placed; the consent ticked
at checkout subscribes the shopper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import SHOP_SECRET, World, open_world
from tests.integrations.php import sign

CHECKOUT = "https://shop.example.com/checkout/?occ_cart=eyJjIjoid2MtOWYxYyJ9.c2ln"
CART = {
    "id": "wc-9f1c",
    "customer": {"id": "12", "email": "olena@example.com", "phone": "+380501112233"},
    "currency": "UAH",
    "total": 900,
    "checkout_url": CHECKOUT,
    "created_at": "2026-11-21T10:00:00+00:00",
    "updated_at": "2026-11-21T10:05:00+00:00",
    "lines": [
        {
            "id": "a87ff679",
            "sku": "MUG-01",
            "product_id": 93,
            "variant_id": 93,
            "name": "Mug",
            "quantity": 3,
            "price": 300,
            "total": 900,
        }
    ],
}


@pytest.fixture
def world(fresh_sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str) -> Iterator[World]:
    with open_world(World, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        yield built


def deliver(world: World, request: dict[str, Any]) -> None:
    signed = sign(SHOP_SECRET, request)
    answer = world.client.post("/webhooks/shop", data=signed["body"], headers=signed["headers"])
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_a_plugin_signed_cart_is_a_mailchimp_cart_until_bought_and_the_consent_subscribes(
    php, world
):
    deliver(world, {"type": "cart.updated", "cart": CART})
    world.settle()

    [mc_cart] = world.store_items("carts").values()
    assert mc_cart["checkout_url"] == CHECKOUT
    assert mc_cart["customer"]["email_address"] == "olena@example.com"
    assert [(line["product_id"], line["quantity"]) for line in mc_cart["lines"]] == [("93", 3)]
    assert float(mc_cart["order_total"]) == 900.0

    bought = CART | {"updated_at": "2026-11-21T10:09:00+00:00"}
    deliver(world, {"type": "cart.converted", "cart": bought})
    # the checkout's consent box was ticked: the plugin sends the customer with the consent
    customer = {"id": "12", "email": "olena@example.com", "first_name": "Olena"}
    deliver(world, {"customer": customer, "consent": True})
    world.settle()

    assert world.store_items("carts") == {}
    [member] = [m for m in world.members().values() if m["email_address"] == "olena@example.com"]
    assert member["status"] == "subscribed"
    assert world.dead_letters() == []
