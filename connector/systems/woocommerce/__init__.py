"""WooCommerce REST v3: orders, customers, products, batch updates, webhooks, signatures."""

from connector.systems.woocommerce.client import WEBHOOK_TOPICS, WooCommerceClient, item_error
from connector.systems.woocommerce.webhooks import (
    Delivery,
    parse_delivery,
    verify_webhook_signature,
)

__all__ = [
    "WEBHOOK_TOPICS",
    "Delivery",
    "WooCommerceClient",
    "item_error",
    "parse_delivery",
    "verify_webhook_signature",
]
