"""The generic contract's customers in (`shop.customer`): the record itself is the event (no
re-read), applied to the hub by `connector.flows.customers`."""

from __future__ import annotations

from typing import Any

from connector.flows.customers import ingest_customer, mappings
from connector.tasks import TaskContext


def shop_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The generic contract's customer: the record itself is the event (no re-read)."""
    data = payload["data"]
    canonical = mappings(ctx).get("shop", "customer").to_canonical(data)
    version = data.get("updated_at") or payload.get("occurred_at")
    ingest_customer(ctx, "shop", str(data["id"]), canonical, version)
