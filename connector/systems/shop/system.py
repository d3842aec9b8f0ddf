"""A custom site or POS on the generic shop contract, as the registry knows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set, payload_record
from connector.systems.shop.settings import ShopSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.shop_callbacks import ShopCallbacks


def client(services: Services) -> ShopCallbacks:
    """Signed events back to the site (the generic contract has no API to write to)."""
    from connector.systems.shop_callbacks import ShopCallbacks

    return ShopCallbacks.from_settings(services.settings)


SYSTEM = System(
    name="shop",
    title="custom shop",
    settings=ShopSettings,  # CONNECTOR_SHOP_* (settings.py)
    configured=all_set("shop_callback_url", "shop_webhook_secret"),
    client=client,
    blueprint="connector.systems.shop.routes:blueprint",  # its webhook route
    task_handlers={
        "shop.order": "connector.flows.orders:shop_order",
        "shop.customer": "connector.systems.shop.customers:shop_customer",
        "shop.cart": "connector.flows.carts:shop_cart",
        "push.shop.order": "connector.systems.shop.push:push_shop_order",
        "push.shop.customer": "connector.systems.shop.push:push_shop_customer",
    },
    receives={"customer", "order"},
    sends={"customer", "order", "cart"},
    linked_only=True,
    trace=payload_record("order", "customer", "cart"),
    sales_channel=True,
)
