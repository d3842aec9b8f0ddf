"""A sandbox world for the catalogue's stories: the e2e world, with the shop's product webhooks
(created, updated, deleted) pointed at the connector, and verbs for products and copies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import World, open_world

PRODUCT_TOPICS = ["product.created", "product.updated", "product.deleted"]


class CatalogueWorld(World):
    def product(self, **body: Any) -> dict[str, Any]:
        return self.services.woocommerce.request("POST", "/products", json=body)

    def change(self, product_id: int, **body: Any) -> dict[str, Any]:
        self.next_second()  # a change in the same second as the last is the poll's, not a hook's
        return self.services.woocommerce.request("PUT", f"/products/{product_id}", json=body)

    def crm_items(self, sku: str) -> list[dict[str, Any]]:
        rows = self.services.bitrix24.call(
            "crm.product.list", {"filter": {"XML_ID": sku}, "select": ["*"]}
        )
        return list(rows)

    def mailchimp_product(self, product_id: Any) -> dict[str, Any]:
        return self.store_items("products")[str(product_id)]

    def buy(self, product_id: int, quantity: int = 1, email: str = "buyer@example.com") -> dict:
        cart = self.shop("/shopper/carts")
        self.shop(f"/shopper/carts/{cart['id']}/items", product_id=product_id, quantity=quantity)
        bill = {"email": email, "first_name": "Aigul", "last_name": "Sarsen"}
        return self.shop(f"/shopper/carts/{cart['id']}/checkout", billing=bill, pay=True)["order"]


@pytest.fixture
def catalogue_world(
    fresh_sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str
) -> Iterator[CatalogueWorld]:
    with open_world(CatalogueWorld, fresh_sandbox, tmp_path, webhook_sink, store_url) as world:
        answer = fresh_sandbox.control(
            "woocommerce",
            "POST",
            "/admin/webhooks",
            json={"topics": PRODUCT_TOPICS, "delivery_url": f"{world.url}/webhooks/woocommerce"},
        )
        assert answer.status_code == 201, answer.text
        yield world
