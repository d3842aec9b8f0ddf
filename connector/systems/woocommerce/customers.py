"""WooCommerce customers in (`woocommerce.customer`): a webhook is only a trigger; the
customer is read fresh and applied to the hub by `connector.flows.customers`."""

from __future__ import annotations

from typing import Any

from connector.errors import PermanentError
from connector.flows.customers import ingest_customer, mappings
from connector.flows.hub import skip
from connector.identity import find_link, is_stale
from connector.tasks import TaskContext


def woocommerce_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A WooCommerce customer webhook: only a trigger; the customer is read fresh."""
    if payload.get("event") == "deleted":
        skip("customer", "deleted in the shop", id=payload.get("id"))
        return
    link = find_link(ctx.services.engine, "customer", "woocommerce", payload["id"])
    if is_stale(link, payload.get("modified")):
        skip("customer", "stale webhook", id=payload["id"])
        return
    try:
        record = ctx.services.woocommerce.get_customer(int(payload["id"]))
    except PermanentError as error:
        if error.status == 404:
            skip("customer", "gone from the shop", id=payload["id"])
            return
        raise
    canonical = mappings(ctx).get("woocommerce", "customer").to_canonical(record)
    ingest_customer(ctx, "woocommerce", payload["id"], canonical, record.get("date_modified_gmt"))
