"""WooCommerce as the registry knows it (connector/systems/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.systems.registry import System, all_set, payload_record

if TYPE_CHECKING:
    from connector.services import Services
    from connector.sync.streams import Stream
    from connector.systems.woocommerce.client import WooCommerceClient


def client(services: Services) -> WooCommerceClient:
    from connector.systems.woocommerce.client import WooCommerceClient

    return WooCommerceClient.from_settings(services.settings)


def modified_stream(resource: str) -> Any:
    """A polled stream of the records modified since the cursor (`orders`, `products`)."""

    def build(services: Services, options: dict[str, Any]) -> Stream:
        from connector.sync import woocommerce

        return woocommerce.ModifiedStream(services.woocommerce, resource, **options)

    return build


def customer_scan(services: Services, options: dict[str, Any]) -> Stream:
    """`/customers` has no date filter: a scan."""
    from connector.sync import woocommerce

    return woocommerce.CustomerScan(services.woocommerce, **options)


def full(resource: str) -> Any:
    """`connector sync --full` of one resource: every record in id order."""

    def build(services: Services, since: Any) -> Any:
        from connector.systems.woocommerce.full_sync import full_stream

        return full_stream(services, resource, since)

    return build


SYSTEM = System(
    name="woocommerce",
    title="WooCommerce",
    settings=(
        "woocommerce_url",
        "woocommerce_key",
        "woocommerce_secret",
        "woocommerce_webhook_secret",
    ),
    configured=all_set("woocommerce_url"),
    client=client,
    blueprint="connector.systems.woocommerce.routes:blueprint",  # its webhook route
    webhook_check="connector.sync.webhook_health:health_status",  # its hooks switched on?
    jobs="connector.systems.woocommerce.jobs:JOBS",
    task_handlers={
        "woocommerce.order": "connector.flows.orders:woocommerce_order",
        "woocommerce.customer": "connector.systems.woocommerce.customers:woocommerce_customer",
        "woocommerce.product": "connector.flows.products:woocommerce_product",
        "woocommerce.coupon": "connector.systems.woocommerce.coupons:woocommerce_coupon",
        "push.woocommerce.order": "connector.systems.woocommerce.push:push_order",
        "push.woocommerce.customer": "connector.systems.woocommerce.push:push_customer",
    },
    streams={
        "orders": modified_stream("orders"),
        "products": modified_stream("products"),
        "customers": customer_scan,
        "coupons": "connector.systems.woocommerce.coupons:coupon_stream",
    },
    # customers before the orders that refer to them
    full_sync={
        "customers": full("customers"),
        "products": full("products"),
        "orders": full("orders"),
    },
    polling_cursor="connector.systems.woocommerce.full_sync:polling_cursor",
    setup="connector.systems.woocommerce.setup:run_setup",
    receives={"customer", "order"},
    sends={"customer", "order", "product"},
    linked_only=True,
    trace=payload_record("order", "customer", "cart"),
    sales_channel=True,
)
