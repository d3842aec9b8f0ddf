"""`connector setup woocommerce`: check access and register the shop's webhooks; re-runnable.

Webhooks are listed first, so a second run registers nothing; a webhook WooCommerce disabled
after failed deliveries is switched back on (research/shop_delivery_loyalty.md 1.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.woocommerce.client import WEBHOOK_TOPICS, WooCommerceClient


def webhook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/woocommerce"


def setup_woocommerce(
    client: WooCommerceClient,
    *,
    public_url: str,
    webhook_secret: str | None,
    topics: Iterable[str] = WEBHOOK_TOPICS,
) -> list[str]:
    if not webhook_secret:
        raise ConfigError("CONNECTOR_WOOCOMMERCE_WEBHOOK_SECRET is required to sign webhooks")
    lines = []
    client.request("GET", "/orders", params={"per_page": 1})
    lines.append("access: ok (orders readable)")
    topics = list(topics)
    url = webhook_url(public_url)
    created, reactivated = client.ensure_webhooks(url, webhook_secret, topics)
    kept = len(topics) - len(created) - len(reactivated)
    lines.append(
        f"webhooks -> {url}: {len(created)} created, {len(reactivated)} re-activated, {kept} kept"
    )
    return lines


# --------------------------------------------------------------------------- `connector setup`


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    from connector.systems.woocommerce import WooCommerceClient

    return setup_woocommerce(
        WooCommerceClient.from_settings(settings),
        public_url=settings.public_url,
        webhook_secret=settings.woocommerce_webhook_secret,
    )
