"""Bonuses: a ledger (or Open Loyalty) kept consistent with orders, spent at checkout, published.

The order flows call `apply_order_event`; the shop and POS use the checkout API (`api.py`);
support uses `connector loyalty`; the jobs release, expire and remind. See docs/loyalty.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from connector.loyalty.ledger import Balance, Entry, InsufficientBalance, LoyaltyRefused
from connector.loyalty.orders import OrderEvent
from connector.loyalty.provider import LedgerProvider, LoyaltyProvider
from connector.loyalty.publish import BalancePublisher, RecordingPublisher
from connector.loyalty.rules import LoyaltyRules, load_rules, validate_rules_file
from connector.loyalty.tasks import PublisherSource, make_handlers, provider_for

if TYPE_CHECKING:
    from connector.queue import Queue
    from connector.tasks import TaskRegistry

__all__ = [
    "Balance",
    "BalancePublisher",
    "Entry",
    "InsufficientBalance",
    "LedgerProvider",
    "LoyaltyProvider",
    "LoyaltyRefused",
    "LoyaltyRules",
    "OrderEvent",
    "RecordingPublisher",
    "apply_order_event",
    "load_rules",
    "provider_for",
    "register",
    "validate_rules_file",
]


def apply_order_event(
    engine: Engine,
    customer_id: str,
    order_id: str,
    event: OrderEvent,
    *,
    card: str | None = None,
    rules: LoyaltyRules | None = None,
    queue: Queue | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Applies one order event to the built-in ledger in its own transaction; returns the
    number of entries written (0 for a duplicate or an event that changes nothing)."""
    provider = LedgerProvider(engine, rules or load_rules(), queue, clock)
    return provider.apply_order_event(customer_id, order_id, event, card=card)


def register(registry: TaskRegistry, publisher: PublisherSource = None) -> None:
    """Adds the loyalty task kinds to a `TaskRegistry`.

    `publisher` is a `BalancePublisher` or a factory `fn(services) -> BalancePublisher`; a
    `services.balance_publisher` attribute, when present, wins. Without either, the flows'
    publisher (`FlowsPublisher`: Bitrix24 contact field, Mailchimp merge field and member
    events) is used, or, without the flows, balances are only logged.
    """
    for kind, handler in make_handlers(publisher).items():
        registry.register(kind, handler)
