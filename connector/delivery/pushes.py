"""The shipment's own writes: a Bitrix24 timeline comment per state, the WooCommerce tracking meta.

Deal stage, the deal's tracking field and the shop status go through the hub order and the order
flow's pushes (so their echo detection keeps working); these two tasks write what only a shipment
knows. Each remembers on the shipment link what it wrote, so a task that runs twice writes once.
"""

from __future__ import annotations

from typing import Any

from connector.audit import record_write
from connector.delivery.rules import rules_for
from connector.delivery.shipments import CARRIER_NAMES, SHIPMENT
from connector.flows.hub import skip, wait_for_dependency
from connector.identity import link_of, save_link
from connector.tasks import TaskContext

STATE_TEXT = {
    "created": "registered",
    "accepted": "accepted by the carrier",
    "in_transit": "in transit",
    "arrived_at_pickup": "arrived at the pickup point",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "returning": "on its way back to the shop",
    "returned": "returned to the shop",
    "lost": "lost",
    "cancelled": "cancelled",
}


def timeline_text(payload: dict[str, Any]) -> str:
    """`Parcel CDEK 1106000123: in transit (Новосибирск) [SENT_TO_RECIPIENT_CITY]`."""
    carrier = CARRIER_NAMES.get(payload["carrier"], payload["carrier"])
    text = f"Parcel {carrier} {payload.get('tracking_number') or ''}".rstrip()
    text += f": {STATE_TEXT.get(payload['state'], payload['state'])}"
    if payload.get("city"):
        text += f" ({payload['city']})"
    if payload.get("carrier_status"):
        text += f" [{payload['carrier_status']}]"
    return text


def push_bitrix24(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`delivery.push.bitrix24`: one timeline comment on the order's deal per state change."""
    engine, order_id, carrier = ctx.services.engine, payload["order_id"], payload["carrier"]
    deal = link_of(engine, "order", order_id, "bitrix24")
    if deal is None:
        wait_for_dependency(ctx, f"the deal of order {order_id}")
    shipment = link_of(engine, SHIPMENT, order_id, carrier)
    mark = f"{payload['state']}:{ctx.task.id}"
    if shipment is None or mark in (shipment.data.get("commented") or []):
        return
    comment_id = ctx.services.bitrix24.add_timeline_comment(
        "deal", int(deal.external_id), timeline_text(payload)
    )
    record_write(
        engine,
        system="bitrix24",
        entity="deal",
        action="comment",
        external_id=deal.external_id,
        canonical_id=order_id,
        task_id=ctx.task.id,
        detail={"state": payload["state"], "comment": comment_id},
    )
    commented = [*(shipment.data.get("commented") or [])[-20:], mark]
    save_link(
        engine, SHIPMENT, order_id, carrier, shipment.external_id, data={"commented": commented}
    )


def push_woocommerce(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`delivery.push.woocommerce`: tracking number and carrier as order meta, a private note."""
    engine, order_id, carrier = ctx.services.engine, payload["order_id"], payload["carrier"]
    shipment = link_of(engine, SHIPMENT, order_id, carrier)
    number = shipment.data.get("tracking_number") if shipment else None
    if shipment is None or not number:
        skip("shop tracking", "no tracking number yet", order=order_id)
        return
    if shipment.data.get("shop_tracking") == number:
        return
    settings = rules_for(ctx.services).woocommerce
    client, shop_id = ctx.services.woocommerce, int(payload["shop_id"])
    name = CARRIER_NAMES.get(carrier, carrier)
    meta = {settings["tracking_meta"]: number, settings["carrier_meta"]: name}
    client.update_order(shop_id, meta={k: v for k, v in meta.items() if k})
    if settings.get("note"):
        note = {"note": f"Shipped with {name}, tracking number {number}", "customer_note": False}
        client.request("POST", f"/orders/{shop_id}/notes", json=note)
    record_write(
        engine,
        system="woocommerce",
        entity="order",
        action="tracking",
        external_id=str(shop_id),
        canonical_id=order_id,
        task_id=ctx.task.id,
        detail={"tracking_number": number},
    )
    save_link(
        engine, SHIPMENT, order_id, carrier, shipment.external_id, data={"shop_tracking": number}
    )
