"""Delivery: the customer sees where the parcel is (issue #7).

An order ready to ship is registered once with the carrier the rules choose; the tracking number
reaches the shop order and the Bitrix24 deal; each parcel state the carrier reports (its webhook,
confirmed, or its poll) moves the deal and the shop order, adds a timeline comment, sends a
Mailchimp member event and, at delivery or return, tells the bonus ledger; an order cancelled
before the parcel is handed over cancels the shipment. Carriers are systems that declare a
`Carrier` (connector/delivery/carriers.py): this package names none. `register` names the task
kinds; `on_order_status` is the order flow's door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.delivery import pushes, registration
from connector.delivery.carriers import Carrier, Registered, carrier
from connector.delivery.registration import on_order_status, order_changed
from connector.delivery.rules import DeliveryRules, load_rules, rules_for, validate_rules_file
from connector.delivery.shipments import (
    PUSH_BITRIX24,
    PUSH_WOOCOMMERCE,
    Observation,
    apply_observation,
    shipment_of,
)
from connector.delivery.tracking import poll_kind, poll_task

if TYPE_CHECKING:
    from connector.tasks import Handler, TaskRegistry

# Each carrier's own kinds (its poll, its webhook) are declared by its system package.
TASK_KINDS: dict[str, Handler] = {
    registration.REGISTER: registration.register,
    registration.CANCEL: registration.cancel,
    PUSH_BITRIX24: pushes.push_bitrix24,
    PUSH_WOOCOMMERCE: pushes.push_woocommerce,
}


def register(registry: TaskRegistry) -> None:
    """Adds the delivery task kinds to a `TaskRegistry`."""
    for kind, handler in TASK_KINDS.items():
        registry.register(kind, handler)


__all__ = [
    "Carrier",
    "DeliveryRules",
    "Observation",
    "Registered",
    "TASK_KINDS",
    "apply_observation",
    "carrier",
    "load_rules",
    "on_order_status",
    "order_changed",
    "poll_kind",
    "poll_task",
    "register",
    "rules_for",
    "shipment_of",
    "validate_rules_file",
]
