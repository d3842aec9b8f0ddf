"""Products: a shop product is upserted to the Mailchimp store, so carts and orders can refer to
it and product recommendations work (research/mailchimp.md 3, "Products first")."""

from __future__ import annotations

from typing import Any

from connector.audit import record_write
from connector.errors import PermanentError
from connector.flows.hub import skip
from connector.identity import save_link
from connector.tasks import TaskContext


def woocommerce_product(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A product webhook: read fresh, then upsert to Mailchimp (the only target of products)."""
    if payload.get("event") == "deleted" or not ctx.services.enabled("mailchimp"):
        return
    try:
        record = ctx.services.woocommerce.get_product(int(payload["id"]))
    except PermanentError as error:
        if error.status == 404:
            skip("product", "gone from the shop", id=payload["id"])
            return
        raise
    mappings = ctx.services.mappings.current
    product = mappings.get("woocommerce", "product").to_canonical(record)
    body = mappings.get("mailchimp", "product").to_system(product)
    store = ctx.services.settings.mailchimp_store_id
    ctx.services.mailchimp.upsert_product(store, body)
    record_write(
        ctx.services.engine,
        system="mailchimp",
        entity="product",
        action="upsert",
        external_id=str(product["id"]),
        task_id=ctx.task.id,
    )
    key = f"{product['id']}:{product['id']}"
    save_link(ctx.services.engine, "product", key, "mailchimp", f"{store}:{key}")
