"""Delivery: the customer sees where the parcel is (issue #7).

An order ready to ship is registered once with the carrier the rules choose (CDEK or Nova Poshta);
the tracking number reaches the shop order and the Bitrix24 deal; each parcel state the carrier
reports (CDEK webhook confirmed by a GET, CDEK and Nova Poshta polls) moves the deal and the shop
order, adds a timeline comment, sends a Mailchimp member event and, at delivery or return, tells
the bonus ledger. `register` names the task kinds; `on_order_status` is the order flow's door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.delivery import pushes, registration, tracking
from connector.delivery.registration import on_order_status, order_changed
from connector.delivery.rules import DeliveryRules, load_rules, rules_for, validate_rules_file
from connector.delivery.shipments import Observation, apply_observation, shipment_of

if TYPE_CHECKING:
    from connector.tasks import TaskRegistry

TASK_KINDS = {
    registration.REGISTER: registration.register,
    tracking.CDEK_STATUS: tracking.cdek_status,
    tracking.POLL_CDEK: tracking.poll_cdek,
    tracking.POLL_NOVAPOSHTA: tracking.poll_novaposhta,
    "delivery.push.bitrix24": pushes.push_bitrix24,
    "delivery.push.woocommerce": pushes.push_woocommerce,
}


def register(registry: TaskRegistry) -> None:
    """Adds the delivery task kinds to a `TaskRegistry`."""
    for kind, handler in TASK_KINDS.items():
        registry.register(kind, handler)


__all__ = [
    "DeliveryRules",
    "Observation",
    "TASK_KINDS",
    "apply_observation",
    "load_rules",
    "on_order_status",
    "order_changed",
    "register",
    "rules_for",
    "shipment_of",
    "validate_rules_file",
]
