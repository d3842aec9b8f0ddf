"""The world of a delivery story: the end-to-end world (tests/e2e/conftest.py) with the
carriers' emulators too; CDEK's webhooks reach the connector as well."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.flows.hub import load_snapshot
from connector.identity import find_link
from tests.e2e.conftest import World, open_world


class DeliveryWorld(World):
    """The systems of the story, and the verbs the delivery stories use."""

    WEBHOOK_SOURCES = ("woocommerce", "mailchimp", "cdek")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.http = requests.Session()
        self.http.trust_env = False

    def guest_order(self, email: str, phone: str, shipping: dict[str, str]) -> dict[str, Any]:
        """A guest buys two items and pays; the shop's webhooks bring the order in."""
        cart = self.control("woocommerce", "/shopper/carts")
        self.control("woocommerce", f"/shopper/carts/{cart['id']}/items", product_id=93, quantity=2)
        billing = {"email": email, "phone": phone, "first_name": "Olena", "last_name": "Koval"}
        path = f"/shopper/carts/{cart['id']}/checkout"
        return self.control("woocommerce", path, billing=billing, shipping=shipping, pay=True)[
            "order"
        ]

    def shop_order(self, order_id: int) -> dict[str, Any]:
        return next(o for o in self.state("woocommerce")["orders"] if o["id"] == order_id)

    def order_id(self, shop_id: int) -> str:
        link = find_link(self.services.engine, "order", "woocommerce", shop_id)
        assert link is not None, "the order flow did not link the shop order"
        return link.canonical_id

    def snapshot(self, order_id: str) -> dict[str, Any]:
        found = load_snapshot(self.services.engine, "order", order_id)
        assert found is not None
        return found

    def deal(self) -> dict[str, Any]:
        [deal] = self.state("bitrix24")["deals"]
        return deal

    def comments(self) -> list[str]:
        return [c["COMMENT"] for c in self.state("bitrix24")["timeline_comments"]]

    def member_events(self, email: str) -> list[str]:
        state = self.state("mailchimp")
        list_id = self.services.settings.mailchimp_list_id
        found = []
        for key, events in state["events"].items():
            member_id = key.split(":", 1)[1]
            member = state["members"][list_id].get(member_id) or {}
            if key.startswith(f"{list_id}:") and member.get("email_address") == email:
                found += [e["name"] for e in events]
        return found


@pytest.fixture
def world(
    fresh_sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str
) -> Iterator[DeliveryWorld]:
    with open_world(DeliveryWorld, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        secret = built.services.settings.cdek_webhook_secret
        built.services.cdek.subscribe_webhook(f"{built.url}/webhooks/cdek/{secret}")
        yield built
