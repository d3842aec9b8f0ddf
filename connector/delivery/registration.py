"""Registering a parcel with a carrier once an order is ready to ship, exactly once.

`on_order_status` is what the order flow calls on every status change: it decides (status or
stage in `ready_to_ship`, no shipment yet, a carrier chosen and configured) and queues
`delivery.register`. The task re-reads the hub's order, checks the shipment link first and uses the
carrier's own idempotency where it has one (CDEK refuses a second order with our number, so a
retry finds the first by `im_number`). Nova Poshta has none: a marker link is written before the
call; a refusal or a request that never left (`RequestNotSent`) clears it for the retry, while a
retry after an unanswered call stops in the dead letters instead of creating a second parcel (an
admin checks Nova Poshta for the order's client barcode).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector import keys
from connector.delivery.carriers import (
    cdek_observation,
    cdek_order,
    novaposhta_waybill,
)
from connector.delivery.rules import NO_CARRIER, DeliveryRules, rules_for
from connector.delivery.shipments import SHIPMENT, Observation, apply_observation, shipment_of
from connector.errors import PermanentError
from connector.flows.hub import load_snapshot, skip
from connector.http import RequestNotSent
from connector.identity import save_link
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.delivery")

REGISTER = "delivery.register"
CDEK_TAKEN = "v2_entity_already_exists"


def ready_to_ship(services: Services, rules: DeliveryRules, status: str | None) -> bool:
    """Whether a canonical status (or the stage it comes from) is one the rules ship at."""
    if status in rules.ready_statuses:
        return True
    if not rules.ready_stages or not status:
        return False
    stage_map = services.mappings.current.value_map("bitrix24", "deal_stage")
    return any(stage_map.to_canonical(stage) == status for stage in rules.ready_stages)


def has_address(order: dict[str, Any]) -> bool:
    """A carrier needs somewhere to go: a city or an address (a till sale has neither)."""
    return bool(order.get("delivery_city") or order.get("delivery_address"))


def on_order_status(
    services: Services,
    canonical_order_id: str,
    status: str | None,
    order_snapshot: dict[str, Any] | None = None,
    *,
    connection: Connection | None = None,
) -> bool:
    """Entry point for the order flow, called on every status change of an order.

    Queues `delivery.register` when the order is ready to ship, has no shipment yet and the rules
    give it a configured carrier; returns whether it did. Pass the flow's `connection` when
    called inside its write transaction (the task is then queued atomically with the change).
    """
    rules = rules_for(services)
    if not ready_to_ship(services, rules, status):
        return False
    target = connection if connection is not None else services.engine
    if shipment_of(target, canonical_order_id) is not None:
        return False
    order = order_snapshot or {}
    carrier, _ = rules.choose_carrier(order)
    if carrier == NO_CARRIER or not services.enabled(carrier) or not has_address(order):
        return False
    task_id = services.queue.enqueue(
        REGISTER,
        {"order_id": canonical_order_id},
        dedupe_key=keys.delivery_registration(canonical_order_id),
        ordering_key=keys.shipment_of_order(canonical_order_id),
        connection=connection,
    )
    return task_id is not None


def order_changed(services: Services, change: Any, *, connection: Connection | None = None) -> bool:
    """`on_order_status` for a hub snapshot change (`connector.flows.hub.Change`): the order flow
    calls it inside its write transaction after each change; only a new status counts."""
    before, after = change.before or {}, change.after
    if not after.get("id") or after.get("status") == before.get("status"):
        return False
    return on_order_status(
        services, str(after["id"]), after.get("status"), after, connection=connection
    )


def register(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`delivery.register` {order_id}: registers the order's parcel with the chosen carrier."""
    services, order_id = ctx.services, str(payload["order_id"])
    order = load_snapshot(services.engine, "order", order_id)
    if order is None:
        skip("shipment", "order unknown to the hub", order=order_id)
        return
    existing = shipment_of(services.engine, order_id)
    if existing is not None and not existing.data.get("registering"):
        skip("shipment", "already registered", order=order_id, carrier=existing.system)
        return
    rules = rules_for(services)
    carrier, rule = rules.choose_carrier(order)
    if carrier == NO_CARRIER or not services.enabled(carrier):
        skip("shipment", f"no carrier ({carrier}, {rule})", order=order_id)
        return
    if not has_address(order):
        skip("shipment", "no delivery address", order=order_id)
        return
    order = dict(order) | {"id": order_id}
    if carrier == "cdek":
        _register_cdek(ctx, order, rules)
    else:
        _register_novaposhta(ctx, order, rules, existing)
    log.info("order %s registered with %s (%s)", order_id, carrier, rule)


def _start_link(services: Services, order: dict[str, Any], carrier: str, external_id: str) -> None:
    save_link(
        services.engine,
        SHIPMENT,
        order["id"],
        carrier,
        external_id,
        data={
            "carrier": carrier,
            "state": None,
            "tracking_number": None,
            "order_number": order.get("number"),
            "phone": order.get("phone"),
            "registering": False,
        },
    )


def _register_cdek(ctx: TaskContext, order: dict[str, Any], rules: DeliveryRules) -> None:
    client, services = ctx.services.cdek, ctx.services
    try:
        uuid = client.create_order(cdek_order(order, rules))["entity"]["uuid"]
    except PermanentError as error:
        if error.code != CDEK_TAKEN:
            raise
        found = client.find_order(order["id"])  # our own earlier attempt, its answer lost
        if not found:
            raise
        uuid = found["entity"]["uuid"]
    _start_link(services, order, "cdek", uuid)
    _audit(ctx, "cdek", uuid, order["id"])
    state_map = services.mappings.current.value_map("cdek", "shipment_state")
    seen = cdek_observation(client.get_order(uuid), state_map)
    if seen is not None:
        apply_observation(services, order["id"], "cdek", seen)


def _register_novaposhta(
    ctx: TaskContext, order: dict[str, Any], rules: DeliveryRules, marker: Any
) -> None:
    services, order_id = ctx.services, order["id"]
    if marker is not None and marker.data.get("registering") is True:
        raise PermanentError(
            f"a Nova Poshta waybill for order {order_id} may already exist (an earlier attempt "
            f"ended without an answer): look it up by client barcode {order_id}; delete the "
            f"shipment link to register again",
            code="registration_unknown",
        )
    save_link(
        services.engine,
        SHIPMENT,
        order_id,
        "novaposhta",
        f"pending:{order_id}",
        data={"carrier": "novaposhta", "registering": True},
    )
    try:
        waybill = services.novaposhta.create_waybill(novaposhta_waybill(order, rules))
    except (PermanentError, RequestNotSent):  # refused, or never sent: nothing was created
        save_link(
            services.engine, SHIPMENT, order_id, "novaposhta", f"pending:{order_id}",
            data={"registering": "refused"},
        )  # fmt: skip
        raise
    number, ref = str(waybill["IntDocNumber"]), str(waybill.get("Ref") or waybill["IntDocNumber"])
    _start_link(services, order, "novaposhta", ref)
    _audit(ctx, "novaposhta", ref, order_id)
    seen = Observation(state="created", carrier_status="1", status_at=None, tracking_number=number)
    apply_observation(services, order_id, "novaposhta", seen)


def _audit(ctx: TaskContext, carrier: str, external_id: str, order_id: str) -> None:
    from connector.audit import record_write

    record_write(
        ctx.services.engine,
        system=carrier,
        entity=SHIPMENT,
        action="register",
        external_id=external_id,
        canonical_id=order_id,
        task_id=ctx.task.id,
    )
