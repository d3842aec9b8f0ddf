"""The shipment's own writes: a Bitrix24 timeline comment per state, the WooCommerce tracking meta.

Deal stage, the deal's tracking field and the shop status go through the hub order and the order
flow's pushes (so their echo detection keeps working); these two tasks write what only a shipment
knows. Both are exporters (connector/flows/exporter.py) on the order's shipment link (entity
`shipment`, system = the carrier): each plans its writes, the skeleton runs them, audits them and
remembers on the shipment link what was written, so a task that runs twice writes once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.delivery.carriers import title_of
from connector.delivery.rules import rules_for
from connector.delivery.shipments import SHIPMENT
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import load_snapshot, skip, wait_for_dependency
from connector.identity import link_of
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services

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
COMMENTS_KEPT = 20


def timeline_text(services: Services, payload: Mapping[str, Any]) -> str:
    """`Parcel CDEK 1106000123: in transit (Новосибирск) [SENT_TO_RECIPIENT_CITY]`."""
    carrier = title_of(services, payload["carrier"])
    text = f"Parcel {carrier} {payload.get('tracking_number') or ''}".rstrip()
    text += f": {STATE_TEXT.get(payload['state'], payload['state'])}"
    if payload.get("city"):
        text += f" ({payload['city']})"
    if payload.get("carrier_status"):
        text += f" [{payload['carrier_status']}]"
    return text


class ShipmentExporter(Exporter):
    """A push of what a shipment knows, remembered on the shipment link `(order, carrier)`."""

    entity, id_field = SHIPMENT, "order_id"

    def link_system(self, payload: Mapping[str, Any]) -> str:
        return str(payload["carrier"])

    def load(self, ctx: TaskContext, canonical_id: str) -> dict[str, Any] | None:
        """The hub's order (empty when the hub never saw it: the shipment still counts)."""
        return load_snapshot(ctx.services.engine, "order", canonical_id) or {}


class TimelineExporter(ShipmentExporter):
    """`delivery.push.bitrix24`: one timeline comment on the order's deal per state change."""

    system = "bitrix24"

    def plan(self, push: Push) -> Plan | None:
        ctx, order_id, shipment = push.ctx, push.canonical_id, push.link
        deal = link_of(ctx.services.engine, "order", order_id, "bitrix24")
        if deal is None:
            wait_for_dependency(ctx, f"the deal of order {order_id}")
        mark = f"{push.payload['state']}:{ctx.task.id}"
        if shipment is None or mark in (shipment.data.get("commented") or []):
            return None
        deal_id, text = int(deal.external_id), timeline_text(ctx.services, push.payload)
        comment = Write(
            "bitrix24",
            "deal",
            "comment",
            deal.external_id,
            call=lambda bitrix24: bitrix24.add_timeline_comment("deal", deal_id, text),
        )

        def settle(plan: Plan, results: list[Any]) -> None:
            comment.detail = {"state": push.payload["state"], "comment": results[0]}

        commented = [*(shipment.data.get("commented") or [])[-COMMENTS_KEPT:], mark]
        return Plan(
            writes=[comment],
            external_id=shipment.external_id,
            data={"commented": commented},
            settle=settle,
        )


class ShopTrackingExporter(ShipmentExporter):
    """`delivery.push.woocommerce`: tracking number and carrier as order meta, a private note."""

    system = "woocommerce"

    def plan(self, push: Push) -> Plan | None:
        ctx, order_id, shipment = push.ctx, push.canonical_id, push.link
        number = shipment.data.get("tracking_number") if shipment else None
        if shipment is None or not number:
            skip("shop tracking", "no tracking number yet", order=order_id)
            return None
        if shipment.data.get("shop_tracking") == number:
            return None
        settings = rules_for(ctx.services).woocommerce
        shop_id = int(push.payload["shop_id"])
        name = title_of(ctx.services, shipment.system)
        meta = {settings["tracking_meta"]: number, settings["carrier_meta"]: name}
        meta = {k: v for k, v in meta.items() if k}
        writes = [
            Write(
                "woocommerce",
                "order",
                "tracking",
                str(shop_id),
                call=lambda shop: shop.update_order(shop_id, meta=meta),
                detail={"tracking_number": number},
            )
        ]
        if settings.get("note"):
            text = f"Shipped with {name}, tracking number {number}"
            note = {"note": text, "customer_note": False}
            writes.append(
                Write(
                    "woocommerce",
                    "order",
                    "note",
                    str(shop_id),
                    call=lambda shop: shop.request("POST", f"/orders/{shop_id}/notes", json=note),
                    audit=False,
                )
            )
        return Plan(writes=writes, external_id=shipment.external_id, data={"shop_tracking": number})


push_bitrix24 = TimelineExporter()
push_woocommerce = ShopTrackingExporter()
