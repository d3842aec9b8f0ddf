"""The way back to WooCommerce: what the hub learned (a manager's stage move, a CRM edit) written
to the shop's own order and customer, on the exporter skeleton (connector/flows/exporter.py).

WooCommerce is a linked-only system: it is told only about records it sent us, so the task's `id`
is the shop's own id and the canonical id travels under `oid` / `cid`. Each push reads the shop's
record, compares it with the hub's through the shop's mapping and writes only when they differ;
the link then remembers what the shop answered (its fingerprint, modification time and fields),
so the webhook the write sets off comes back as an echo and is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.flows.customers import record_fingerprint
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.orders import mappings, order_fingerprint
from connector.identity import version_text
from connector.mapping import Mapping

SYSTEM = "woocommerce"


def remember(
    mapping: Mapping, fingerprint: Callable[[dict[str, Any]], str]
) -> Callable[[Plan, list[Any]], None]:
    """`settle`: the link keeps what the shop answered, as the shop's next event will show it."""

    def settle(plan: Plan, results: list[Any]) -> None:
        written = results[0]
        fresh = mapping.to_canonical(written)
        plan.fingerprint = fingerprint(fresh)
        plan.version = version_text(written.get("date_modified_gmt"))
        plan.data = {"seen": {k: v for k, v in fresh.items() if k != "id"}}

    return settle


class OrderExporter(Exporter):
    """`push.woocommerce.order` {id: the shop's order id, oid}: the order's status."""

    system, entity, id_field = SYSTEM, "order", "oid"

    def plan(self, push: Push) -> Plan | None:
        status = push.record.get("status")
        if not status:
            return None
        ctx, shop_id = push.ctx, int(push.payload["id"])
        mapping = mappings(ctx).get(SYSTEM, "order")
        status_map = mappings(ctx).value_map(SYSTEM, "order_status")
        current = mapping.to_canonical(ctx.services.woocommerce.get_order(shop_id))
        if status_map.to_system(current.get("status")) == status_map.to_system(status):
            return None
        body = mapping.to_system({"status": status})
        update = Write(
            SYSTEM,
            "order",
            "update",
            str(shop_id),
            call=lambda shop: shop.update_order(shop_id, **body),
            detail={"status": status},
        )
        return Plan(
            writes=[update], external_id=str(shop_id), settle=remember(mapping, order_fingerprint)
        )


class CustomerExporter(Exporter):
    """`push.woocommerce.customer` {id: the shop's customer id, cid}: the fields the hub holds
    differently (edited in the CRM or Mailchimp)."""

    system, entity, id_field = SYSTEM, "customer", "cid"

    def plan(self, push: Push) -> Plan | None:
        ctx, shop_id = push.ctx, int(push.payload["id"])
        mapping = mappings(ctx).get(SYSTEM, "customer")
        current = ctx.services.woocommerce.get_customer(shop_id)
        wanted = mapping.to_system(push.record, existing=current)
        seen = mapping.to_canonical(current)
        merged = mapping.to_canonical({**current, **wanted})
        if record_fingerprint(seen) == record_fingerprint(merged):
            return None
        update = Write(
            SYSTEM,
            "customer",
            "update",
            str(shop_id),
            call=lambda shop: shop.update_customer(shop_id, wanted),
        )
        return Plan(
            writes=[update], external_id=str(shop_id), settle=remember(mapping, record_fingerprint)
        )


push_order = OrderExporter()
push_customer = CustomerExporter()
