"""Shipments: the link between an order and its parcel at a carrier, and what a new parcel state
sets in motion.

A shipment is a `links` row of entity `shipment`: canonical id = the canonical order id, system =
the carrier's name (connector/delivery/carriers.py), external id = the carrier's id of the parcel
(CDEK order uuid, Nova Poshta waybill `Ref`). Its `version` is the carrier's time of the state
applied last, and `data` holds the tracking number, the state, the carrier's own status code
and a short history.

`apply_observation` is the one door every carrier status goes through (a carrier's webhook, the
polls, registration, cancellation): inside one write transaction it drops what is
older than the state applied (carrier timestamps; research/shop_delivery_loyalty.md 4.4), drops
duplicates, never leaves a final state except for a return, and fans the change out, one task per
target (DESIGN.md "Fan-out"): the hub order (status moves forward only; tracking number) whose
pushes write the Bitrix24 deal stage and field and the WooCommerce status; a timeline comment;
the WooCommerce tracking meta; a Mailchimp member event; the bonus ledger's order event.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, or_, select

from connector import keys
from connector.delivery.carriers import title_of
from connector.delivery.rules import DeliveryRules, rules_for
from connector.flows.hub import change_snapshot, load_snapshot, push
from connector.flows.orders import fan_out_order
from connector.identity import Link, as_moment, link_from_row, link_of, links_of, save_link
from connector.model import SHIPMENT_STATES
from connector.store import reading
from connector.store.tables import links

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.delivery")

SHIPMENT = "shipment"
ORDER_PROGRESS = ("pending", "on-hold", "processing", "shipped", "delivered", "completed")
RETURN_STATES = ("returning", "returned")
HISTORY_KEEP = 30
LOYALTY_KIND = "loyalty.order_event"
PUSH_BITRIX24 = "delivery.push.bitrix24"
PUSH_WOOCOMMERCE = "delivery.push.woocommerce"


@dataclass(frozen=True)
class Observation:
    """What a carrier says about one parcel now."""

    state: str
    carrier_status: str
    status_at: dt.datetime | None
    tracking_number: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What `apply_observation` did: `applied` (a new state or time), `announced` (fanned out)."""

    applied: bool
    announced: bool
    reason: str = ""


# --------------------------------------------------------------------------- links


def shipment_of(target: Any, order_id: str) -> Link | None:
    """The order's shipment at any carrier (one order, one parcel)."""
    found = links_of(target, SHIPMENT, order_id)
    return found[min(found)] if found else None


def open_shipments(engine: Engine, carrier: str, finals: frozenset[str]) -> Iterator[Link]:
    """Registered parcels of a carrier not yet in a final state: what the polls look at."""
    state = links.c.data["state"].as_string()
    query = (
        select(links)
        .where(
            links.c.entity == SHIPMENT,
            links.c.system == carrier,
            or_(state.is_(None), state.not_in(sorted(finals))),
        )
        .order_by(links.c.id)
    )
    with reading(engine) as connection:
        rows = connection.execute(query).all()
    for row in rows:
        data = dict(row.data or {})
        if data.get("registering") or data.get("state") in finals:
            continue
        yield link_from_row(row)


# --------------------------------------------------------------------------- applying


def apply_observation(
    services: Services, order_id: str, carrier: str, seen: Observation
) -> Outcome:
    """Applies a carrier's status to the shipment and fans out what changed (see module doc)."""
    if seen.state not in SHIPMENT_STATES:
        raise ValueError(f"not a canonical shipment state: {seen.state!r}")
    rules = rules_for(services)
    with services.engine.begin() as connection:
        link = link_of(connection, SHIPMENT, order_id, carrier, lock=True)
        if link is None:
            return Outcome(False, False, "no such shipment")
        data = dict(link.data)
        number = seen.tracking_number or data.get("tracking_number")
        # the waybill number when this status brings a new one
        new_number = (
            seen.tracking_number if seen.tracking_number != data.get("tracking_number") else None
        )
        verdict = _verdict(rules, link, data, seen)
        if verdict:
            if new_number:  # a stale status may still be the first to carry the waybill number
                _late_number(connection, services, rules, link, new_number)
            return Outcome(False, False, verdict)
        moment = seen.status_at.isoformat() if seen.status_at else link.version
        history = list(data.get("history") or [])[-(HISTORY_KEEP - 1) :]
        history.append({"state": seen.state, "code": seen.carrier_status, "at": moment})
        updates: dict[str, Any] = {
            "state": seen.state,
            "carrier_status": seen.carrier_status,
            "tracking_number": number,
            "city": seen.city or data.get("city"),
            "history": history,
        }
        # without a waybill number there is nothing to tell the customer yet, unless it is over
        known = bool(number) or seen.state in rules.final_states
        announce = known and seen.state != data.get("announced")
        if announce:
            updates["announced"] = seen.state
        save_link(
            connection, SHIPMENT, order_id, carrier, link.external_id,
            version=moment, data=updates,
        )  # fmt: skip
        if new_number:
            _announce_tracking(connection, services, order_id, carrier, new_number)
        if announce:
            fresh = dict(data) | updates
            _announce_state(connection, services, rules, order_id, carrier, fresh, moment)
    return Outcome(True, announce)


def _late_number(
    connection: Connection, services: Services, rules: DeliveryRules, link: Link, number: str
) -> None:
    """The waybill number came with a status that changes nothing: the number still goes out,
    and the current state with it if it waited for the number."""
    data, state = link.data, link.data.get("state")
    updates: dict[str, Any] = {"tracking_number": number}
    late = state in SHIPMENT_STATES and data.get("announced") != state
    if late:
        updates["announced"] = state
    save_link(connection, SHIPMENT, link.canonical_id, link.system, link.external_id, data=updates)
    _announce_tracking(connection, services, link.canonical_id, link.system, number)
    if late:
        shipment = dict(data) | updates
        _announce_state(
            connection, services, rules, link.canonical_id, link.system, shipment, link.version
        )


def _verdict(rules: DeliveryRules, link: Link, data: dict[str, Any], seen: Observation) -> str:
    """Why an observation changes nothing ("" when it is to be applied)."""
    applied_at = as_moment(link.version)
    current = data.get("state")
    if seen.status_at is not None and applied_at is not None:
        if seen.status_at < applied_at:
            return "older than the state applied"
        if seen.status_at == applied_at and current in SHIPMENT_STATES:
            if seen.carrier_status == data.get("carrier_status"):
                return "duplicate"
            if SHIPMENT_STATES.index(seen.state) < SHIPMENT_STATES.index(current):
                return "same moment as a later state"
    same = seen.carrier_status == data.get("carrier_status") and seen.state == current
    if same and seen.tracking_number in (None, "", data.get("tracking_number")):
        return "duplicate"
    leaving = current in rules.final_states and seen.state != current
    if leaving and not (current == "delivered" and seen.state in RETURN_STATES):
        return f"the shipment is already {current}"
    return ""


# --------------------------------------------------------------------------- fan-out


def _announce_tracking(
    connection: Connection, services: Services, order_id: str, carrier: str, number: str
) -> None:
    """The tracking number goes to the hub order (the deal's tracking field comes from there
    through mappings/bitrix24/deal.yaml) and to the WooCommerce order's meta."""
    if load_snapshot(connection, "order", order_id) is None:
        return
    change = change_snapshot(
        connection,
        "order",
        order_id,
        lambda current: (current or {"id": order_id}) | {"tracking_number": number},
    )
    if change.changed:
        fan_out_order(connection, services, order_id, exclude=None)
    shop = link_of(connection, "order", order_id, "woocommerce")
    if shop is not None and services.enabled("woocommerce"):
        services.queue.enqueue(
            PUSH_WOOCOMMERCE,
            {"order_id": order_id, "shop_id": shop.external_id, "carrier": carrier},
            dedupe_key=keys.delivery("woocommerce", order_id, number),
            ordering_key=keys.record("order", "woocommerce", shop.external_id),
            connection=connection,
        )


def _announce_state(
    connection: Connection,
    services: Services,
    rules: DeliveryRules,
    order_id: str,
    carrier: str,
    shipment: dict[str, Any],
    moment: str | None,
) -> None:
    state, number = shipment["state"], shipment.get("tracking_number")
    order = load_snapshot(connection, "order", order_id)
    if order is None:  # a parcel of an order the hub never saw: its state is kept, no more
        log.info("shipment of order %s is %s; the order is unknown to the hub", order_id, state)
        return
    _move_order(connection, services, rules, order_id, order, state)
    if services.enabled("bitrix24"):
        services.queue.enqueue(
            PUSH_BITRIX24,
            {
                "order_id": order_id,
                "carrier": carrier,
                "state": state,
                "carrier_status": shipment.get("carrier_status"),
                "tracking_number": number,
                "city": shipment.get("city"),
            },
            dedupe_key=keys.delivery("bitrix24", order_id, carrier, state, moment),
            ordering_key=keys.record("deal", "bitrix24", order_id),
            connection=connection,
        )
    customer_id = order.get("customer_id")
    if customer_id and services.enabled("mailchimp"):
        properties = {
            "tracking_number": str(number or ""),
            "carrier": title_of(services, carrier),
            "order_number": str(order.get("number") or order_id),
            "state": state,
        }
        push(
            connection,
            services,
            "push.mailchimp.event",
            customer_id,
            {"name": rules.member_event(state), "properties": properties, "occurred_at": moment},
            dedupe_key=keys.delivery("event", order_id, carrier, state),
        )
    if customer_id:  # a parcel at the pickup point may start a reminder; collected, stop it
        from connector.cascades.engine import SHIPMENT_STATUS, notify

        data = {"status": state, "carrier": carrier, "version": moment}
        notify(services, connection, SHIPMENT_STATUS, customer_id, order_id, data)
    event = rules.loyalty_events.get(state)
    if event and customer_id and LOYALTY_KIND in services.registry:
        _report_to_loyalty(connection, services, order, event, moment)


def _move_order(
    connection: Connection,
    services: Services,
    rules: DeliveryRules,
    order_id: str,
    order: dict[str, Any],
    state: str,
) -> None:
    """Sets the order status the state means, only forward (a completed order stays so)."""
    wanted, current = rules.order_status.get(state), order.get("status")
    if wanted is None or wanted == current or not _is_forward(current, wanted):
        return
    change = change_snapshot(
        connection,
        "order",
        order_id,
        lambda snapshot: (snapshot or {"id": order_id}) | {"status": wanted},
    )
    if change.changed:
        fan_out_order(connection, services, order_id, exclude=None)


def _is_forward(current: str | None, wanted: str) -> bool:
    if wanted not in ORDER_PROGRESS:
        return current != wanted
    if current is None:
        return True
    if current not in ORDER_PROGRESS:  # cancelled, refunded, failed: a person decided, keep it
        return False
    return ORDER_PROGRESS.index(wanted) > ORDER_PROGRESS.index(current)


def _report_to_loyalty(
    connection: Connection,
    services: Services,
    order: dict[str, Any],
    event: str,
    moment: str | None,
) -> None:
    """`loyalty.order_event` as the order flow sends it (docs/loyalty.md): delivered starts the
    return window at the carrier's time, returned reverses the order's bonuses."""
    at = as_moment(moment)
    detail = {
        "kind": event,
        "total": str(order.get("total") or 0),
        "bonus_spent": str((order.get("custom") or {}).get("bonus_spent") or 0),
        "amount": None,
        "version": f"shipment:{event}",
        "at": at.timestamp() if at else time.time(),
    }
    payload = {
        "customer_id": order.get("customer_id"),
        "order_id": order["id"],
        "event": detail,
        "card": None,
        **{k: v for k, v in detail.items() if k != "at"},
    }
    services.queue.enqueue(
        LOYALTY_KIND,
        payload,
        dedupe_key=keys.loyalty_event(order["id"], event, "shipment"),
        ordering_key=keys.loyalty_customer(order.get("customer_id")),
        connection=connection,
    )
