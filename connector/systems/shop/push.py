"""The way back to a custom site: what the hub learned goes out as a signed event.

WooCommerce gets its status and CRM-owned fields written through its API
(connector/systems/woocommerce/push.py);
a site on the generic contract has no API we know, so it hears the same changes as
`order.updated` / `customer.updated` events at CONNECTOR_SHOP_CALLBACK_URL
(`connector.systems.shop_callbacks`). Only records the site sent us are told about (their link),
`data` holds the site's id and the fields that changed, in the shape of `mappings/shop/`, and
the link remembers what the site now holds, so the site echoing the change back is dropped.
Both pushes are exporters (connector/flows/exporter.py): they plan one event, the skeleton
sends it, records the write and saves the link.
"""

from __future__ import annotations

from typing import Any

from connector.flows.customers import VOLATILE, record_fingerprint
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import load_snapshot, skip
from connector.flows.orders import mappings, order_fingerprint
from connector.identity import find_link, jsonable
from connector.tasks import TaskContext


class ShopExporter(Exporter):
    """Tells the site the fields it holds differently from the hub, as one signed event.

    The task's `id` is the site's own id; the canonical id is under `cid` / `oid`."""

    system = "shop"

    def load(self, ctx: TaskContext, canonical_id: str) -> dict[str, Any] | None:
        return load_snapshot(ctx.services.engine, self.entity, canonical_id) or {}

    def wanted(self, ctx: TaskContext, record: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def plan(self, push: Push) -> Plan | None:
        ctx, entity, shop_id = push.ctx, self.entity, str(push.payload["id"])
        held = find_link(ctx.services.engine, entity, "shop", shop_id)
        seen = dict((held.data or {}).get("seen") or {}) if held else {}
        changed = {
            k: v for k, v in jsonable(self.wanted(ctx, push.record)).items() if seen.get(k) != v
        }
        if not changed:
            skip(f"shop {entity}", "the site holds these values already", id=shop_id)
            return None
        mapping = mappings(ctx).get("shop", entity)
        data = {**mapping.to_system(changed), "id": shop_id}
        # One id per task: a retry re-sends the same event, which the site can drop.
        message_id, kind = f"msg_{entity}_{ctx.task.id}", f"{entity}.updated"
        now_held = {**seen, **changed}
        held_fp = order_fingerprint(now_held) if entity == "order" else record_fingerprint(now_held)
        return Plan(
            writes=[
                Write(
                    "shop",
                    entity,
                    "update",
                    shop_id,
                    call=lambda site: site.send_event(message_id, kind, data),
                    detail={"fields": sorted(changed)},
                )
            ],
            external_id=shop_id,
            fingerprint=held_fp,
            data={"seen": now_held},
        )


class ShopOrderExporter(ShopExporter):
    """The order's new status (a manager's stage move, a delivery)."""

    entity, id_field = "order", "oid"

    def wanted(self, ctx: TaskContext, record: dict[str, Any]) -> dict[str, Any]:
        status = record.get("status")
        return {"status": status} if status else {}


class ShopCustomerExporter(ShopExporter):
    """The customer fields the hub holds differently (edited in the CRM or Mailchimp)."""

    entity, id_field = "customer", "cid"

    def wanted(self, ctx: TaskContext, record: dict[str, Any]) -> dict[str, Any]:
        mapping = mappings(ctx).get("shop", "customer")
        # What the site can hold of the hub record, in the types the site's own events arrive in.
        view = jsonable(mapping.to_canonical(mapping.to_system(record)))
        return {k: v for k, v in view.items() if k not in VOLATILE and v not in (None, "", [])}


def push_shop_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.shop.order` {id: the site's order id, oid}."""
    ShopOrderExporter().run(ctx, payload)


def push_shop_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.shop.customer` {id: the site's customer id, cid}."""
    ShopCustomerExporter().run(ctx, payload)
