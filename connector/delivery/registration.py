"""Registering a parcel with a carrier once an order is ready to ship, exactly once; cancelling it
when the order is cancelled before the parcel is handed over.

`on_order_status` is what the order flow calls on every status change: it decides (status or
stage in `ready_to_ship`, no shipment yet, a carrier chosen and configured) and queues
`delivery.register`; an order reaching a status of `cancel_shipment.order_statuses` whose parcel
is still in one of `cancel_shipment.states` queues `delivery.cancel`. Both tasks share the
order's shipment ordering key, so a cancellation runs after the registration it undoes.

The register task re-reads the hub's order, checks the shipment link first and asks the carrier
the rules chose (connector/delivery/carriers.py). A carrier whose registration is idempotent
(CDEK finds its earlier parcel by our number) is simply called again on a retry. For one that is
not (Nova Poshta), a marker link is written before the call; a refusal or a request that never
left (`RequestNotSent`) clears it for the retry, while a retry after an unanswered call stops in
the dead letters instead of creating a second parcel (an admin looks the order up at the carrier).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector import keys
from connector.audit import record_write
from connector.delivery.carriers import Carrier, Registered, carrier
from connector.delivery.rules import NO_CARRIER, DeliveryRules, rules_for
from connector.delivery.shipments import SHIPMENT, apply_observation, shipment_of
from connector.errors import PermanentError
from connector.flows.hub import load_snapshot, skip
from connector.http import RequestNotSent
from connector.identity import Link, save_link
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.delivery")

REGISTER = "delivery.register"
CANCEL = "delivery.cancel"


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
    give it a configured carrier, and `delivery.cancel` when the order is cancelled while its
    parcel is still with the shop; returns whether it queued one. Pass the flow's `connection` when
    called inside its write transaction (the task is then queued atomically with the change).
    """
    rules = rules_for(services)
    if status in rules.cancel_statuses:
        return _cancel_if_not_handed_over(services, rules, canonical_order_id, connection)
    if not ready_to_ship(services, rules, status):
        return False
    target = connection if connection is not None else services.engine
    if shipment_of(target, canonical_order_id) is not None:
        return False
    order = order_snapshot or {}
    name, _ = rules.choose_carrier(order)
    if name == NO_CARRIER or not services.enabled(name) or not has_address(order):
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
    if order.get("status") in rules.cancel_statuses:
        skip("shipment", f"the order is {order.get('status')}", order=order_id)
        return
    name, rule = rules.choose_carrier(order)
    if name == NO_CARRIER or not services.enabled(name):
        skip("shipment", f"no carrier ({name}, {rule})", order=order_id)
        return
    if not has_address(order):
        skip("shipment", "no delivery address", order=order_id)
        return
    order = dict(order) | {"id": order_id}
    chosen = carrier(services, name)
    if chosen.idempotent:
        registered = chosen.register(services, order, rules)
    else:
        registered = _register_once(services, chosen, order, rules, existing)
    _start_link(services, order, name, registered.external_id)
    _audit(ctx, name, "register", registered.external_id, order_id)
    if registered.seen is not None:
        apply_observation(services, order_id, name, registered.seen)
    log.info("order %s registered with %s (%s)", order_id, name, rule)


def _register_once(
    services: Services,
    chosen: Carrier,
    order: dict[str, Any],
    rules: DeliveryRules,
    marker: Link | None,
) -> Registered:
    """A carrier with no idempotency of its own: a marker before the call, never a blind retry."""
    order_id, name = order["id"], chosen.name
    if marker is not None and marker.data.get("registering") is True:
        raise PermanentError(
            f"a {chosen.title} parcel for order {order_id} may already exist (an earlier attempt "
            f"ended without an answer): look it up at {chosen.title} by our order id "
            f"{order_id}; delete the shipment link to register again",
            code="registration_unknown",
        )
    pending = f"pending:{order_id}"
    save_link(
        services.engine, SHIPMENT, order_id, name, pending,
        data={"carrier": name, "registering": True},
    )  # fmt: skip
    try:
        return chosen.register(services, order, rules)
    except (PermanentError, RequestNotSent):  # refused, or never sent: nothing was created
        save_link(
            services.engine, SHIPMENT, order_id, name, pending, data={"registering": "refused"}
        )
        raise


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


def _audit(ctx: TaskContext, name: str, action: str, external_id: str, order_id: str) -> None:
    record_write(
        ctx.services.engine,
        system=name,
        entity=SHIPMENT,
        action=action,
        external_id=external_id,
        canonical_id=order_id,
        task_id=ctx.task.id,
    )


# --------------------------------------------------------------------------- cancelling


def _cancellable(rules: DeliveryRules, shipment: Link) -> bool:
    """Registered, and still with the shop (no state yet, or one of `cancel_states`)."""
    if shipment.data.get("registering"):
        return False
    return shipment.data.get("state") in (None, *rules.cancel_states)


def _cancel_if_not_handed_over(
    services: Services,
    rules: DeliveryRules,
    order_id: str,
    connection: Connection | None,
) -> bool:
    target = connection if connection is not None else services.engine
    shipment = shipment_of(target, order_id)
    if shipment is None or not _cancellable(rules, shipment):
        return False
    task_id = services.queue.enqueue(
        CANCEL,
        {"order_id": order_id},
        dedupe_key=keys.delivery_cancel(order_id),
        ordering_key=keys.shipment_of_order(order_id),
        connection=connection,
    )
    return task_id is not None


def cancel(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`delivery.cancel` {order_id}: cancels the order's parcel with its carrier, unless it was
    handed over meanwhile (then it travels, and comes back as a return)."""
    services, order_id = ctx.services, str(payload["order_id"])
    shipment = shipment_of(services.engine, order_id)
    if shipment is None:
        skip("shipment cancel", "no shipment", order=order_id)
        return
    rules = rules_for(services)
    if not _cancellable(rules, shipment):
        state = shipment.data.get("state") or "being registered"
        skip("shipment cancel", f"the parcel is {state}", order=order_id)
        return
    chosen = carrier(services, shipment.system)
    seen = chosen.cancel(services, shipment)
    _audit(ctx, shipment.system, "cancel", shipment.external_id, order_id)
    outcome = apply_observation(services, order_id, shipment.system, seen)
    log.info("shipment of order %s cancelled at %s (%s)", order_id, chosen.title, outcome.reason)
