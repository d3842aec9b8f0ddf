"""The way back to a custom site: what the hub learned goes out as a signed event.

WooCommerce gets its status and CRM-owned fields written through its API (`push.woocommerce.*`);
a site on the generic contract has no API we know, so it hears the same changes as
`order.updated` / `customer.updated` events at CONNECTOR_SHOP_CALLBACK_URL
(`connector.systems.shop_callbacks`). Only records the site sent us are told about (their link),
`data` holds the site's id and the fields that changed, in the shape of `mappings/shop/`, and
the link remembers what the site now holds, so the site echoing the change back is dropped.
"""

from __future__ import annotations

from typing import Any

from connector.audit import record_write
from connector.flows.customers import VOLATILE, record_fingerprint
from connector.flows.hub import load_snapshot, skip
from connector.flows.orders import mappings, order_fingerprint
from connector.identity import find_link, jsonable, save_link
from connector.tasks import TaskContext


def push_shop_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Tells the site the order's new status (a manager's stage move, a delivery)."""
    order = load_snapshot(ctx.services.engine, "order", payload["oid"])
    status = (order or {}).get("status")
    changed = {"status": status} if status else {}
    _send(ctx, "order", str(payload["id"]), payload["oid"], changed)


def push_shop_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Tells the site the customer fields the hub holds differently (edited in the CRM or
    Mailchimp)."""
    customer = load_snapshot(ctx.services.engine, "customer", payload["cid"]) or {}
    mapping = mappings(ctx).get("shop", "customer")
    # What the site can hold of the hub record, in the types the site's own events arrive in.
    view = jsonable(mapping.to_canonical(mapping.to_system(customer)))
    wanted = {k: v for k, v in view.items() if k not in VOLATILE and v not in (None, "", [])}
    _send(ctx, "customer", str(payload["id"]), payload["cid"], wanted)


def _send(
    ctx: TaskContext, entity: str, shop_id: str, canonical_id: str, wanted: dict[str, Any]
) -> None:
    engine = ctx.services.engine
    link = find_link(engine, entity, "shop", shop_id)
    seen = dict((link.data or {}).get("seen") or {}) if link else {}
    changed = {k: v for k, v in jsonable(wanted).items() if seen.get(k) != v}
    if not changed:
        skip(f"shop {entity}", "the site holds these values already", id=shop_id)
        return
    mapping = mappings(ctx).get("shop", entity)
    data = {**mapping.to_system(changed), "id": shop_id}
    # One id per task: a retry re-sends the same event, which the site can drop.
    ctx.services.shop.send_event(f"msg_{entity}_{ctx.task.id}", f"{entity}.updated", data)
    record_write(
        engine,
        system="shop",
        entity=entity,
        action="update",
        external_id=shop_id,
        canonical_id=canonical_id,
        task_id=ctx.task.id,
        detail={"fields": sorted(changed)},
    )
    now_held = {**seen, **changed}
    held_fp = order_fingerprint(now_held) if entity == "order" else record_fingerprint(now_held)
    save_link(
        engine, entity, canonical_id, "shop", shop_id, fingerprint=held_fp, data={"seen": now_held}
    )
