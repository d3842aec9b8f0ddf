"""The `sync.webhook_health` task: switches WooCommerce webhooks that the shop disabled back on.

WooCommerce disables a webhook after repeated failed deliveries (more than
`woocommerce_max_webhook_delivery_failures`, 5 by default) and never retries the lost events
(research/shop_delivery_loyalty.md 1.5). The `modified_after` poll brings in what was lost;
this task makes the webhooks fast again. Only webhooks to our own delivery URL in status
`disabled` are touched: `paused` is an admin's choice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from connector.systems.woocommerce.setup import webhook_url

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext

log = logging.getLogger("connector.sync")


def reenable_webhooks(services: Services) -> list[str]:
    """Topics of our webhooks that were disabled and are active again."""
    settings = services.settings
    if not (services.enabled("woocommerce") and settings.public_url):
        return []
    client, ours = services.woocommerce, webhook_url(settings.public_url)
    fixed = []
    for hook in client.list_webhooks():
        if hook.get("delivery_url") != ours or hook.get("status") != "disabled":
            continue
        body: dict[str, Any] = {"status": "active"}
        if settings.woocommerce_webhook_secret:
            body["secret"] = settings.woocommerce_webhook_secret
        client.request("PUT", f"/webhooks/{hook['id']}", json=body)
        fixed.append(str(hook.get("topic")))
        log.warning(
            "WooCommerce had disabled webhook %s (%s) after failed deliveries; re-activated",
            hook.get("id"),
            hook.get("topic"),
        )
    return fixed


def webhook_health(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `sync.webhook_health` {}."""
    reenable_webhooks(ctx.services)
