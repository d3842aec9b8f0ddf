"""The loyalty task kinds: publish a balance, apply an order event, and the scheduled runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector import keys
from connector.loyalty.orders import OrderEvent
from connector.loyalty.publish import (
    PUBLISH_BALANCE,
    REMIND,
    BalancePublisher,
    default_publisher,
    expiring_event,
)

if TYPE_CHECKING:
    from connector.loyalty.openloyalty import OpenLoyaltyProvider
    from connector.loyalty.provider import LedgerProvider
    from connector.services import Services

log = logging.getLogger(__name__)

ORDER_EVENT = "loyalty.order_event"
RELEASE = "loyalty.release"
EXPIRE = "loyalty.expire"
EXPIRY_REMINDERS = "loyalty.expiry_reminders"

PublisherSource = BalancePublisher | Callable[[Any], BalancePublisher] | None


def provider_for(services: Services) -> LedgerProvider | OpenLoyaltyProvider:
    """The provider the settings name, built on the services' store and queue."""
    from connector.loyalty.provider import LedgerProvider
    from connector.loyalty.rules import rules_for

    rules = rules_for(services.settings)
    ledger = LedgerProvider(services.engine, rules, services.queue, services.queue.clock)
    if services.settings.loyalty_provider == "openloyalty":
        from connector.loyalty.openloyalty import OpenLoyaltyProvider

        return OpenLoyaltyProvider.from_settings(services.settings, ledger)
    return ledger


def _report_to_cascades(
    services: Services, connection: Any, customer_id: str, event: dict[str, Any]
) -> None:
    """Bonuses about to expire may start a cascade (one per customer and expiry date)."""
    from connector.cascades.engine import BONUS_EXPIRING, notify

    data = {"amount": event["amount"], "date": event["date"], "version": event["date"]}
    notify(services, connection, BONUS_EXPIRING, customer_id, event["date"], data)


def make_handlers(publisher: PublisherSource = None) -> dict[str, Callable[..., None]]:
    """Handlers bound to a publisher (an instance, or a factory taking the services)."""

    def publisher_for(services: Services) -> BalancePublisher:
        found = getattr(services, "balance_publisher", None) or publisher
        if found is None:
            return default_publisher(services)
        if isinstance(found, BalancePublisher):
            return found
        return found(services)

    def publish_balance(ctx: Any, payload: dict[str, Any]) -> None:
        """Reads the balance now (not when enqueued) and writes it out once."""
        provider = provider_for(ctx.services)
        balance = provider.balance(str(payload["customer_id"]))
        if balance is not None:
            publisher_for(ctx.services).publish(balance.customer_id, balance)

    def order_event(ctx: Any, payload: dict[str, Any]) -> None:
        """`{customer_id, order_id, event: {kind, total, ...}, card?}` from the order flows."""
        if not payload.get("customer_id"):
            log.info("order %s has no customer: no bonuses", payload.get("order_id"))
            return
        provider = provider_for(ctx.services)
        provider.apply_order_event(
            str(payload["customer_id"]),
            str(payload["order_id"]),
            OrderEvent.from_dict(payload["event"]),
            card=payload.get("card"),
        )

    def release(ctx: Any, payload: dict[str, Any]) -> None:
        """Pending bonuses whose return window passed become available; stale holds go back."""
        provider = provider_for(ctx.services)
        provider.release_due()
        provider.void_stale_holds()

    def expire(ctx: Any, payload: dict[str, Any]) -> None:
        provider_for(ctx.services).expire_due()

    def expiry_reminders(ctx: Any, payload: dict[str, Any]) -> None:
        """One reminder task per customer, keyed by expiry date so none is sent twice."""
        provider = provider_for(ctx.services)
        window_days = float(payload.get("bucket_seconds", 86400)) / 86400
        for customer_id, amount, first in provider.expiring_soon(window_days=window_days):
            event = expiring_event(amount, first)
            with ctx.services.engine.begin() as connection:
                ctx.services.queue.enqueue(
                    REMIND,
                    {"customer_id": customer_id, **event},
                    dedupe_key=keys.bonus_expiring(customer_id, event["date"]),
                    connection=connection,
                )
                _report_to_cascades(ctx.services, connection, str(customer_id), event)

    def remind(ctx: Any, payload: dict[str, Any]) -> None:
        properties = {"amount": payload["amount"], "date": payload["date"]}
        publisher_for(ctx.services).send_event(
            str(payload["customer_id"]), "bonus_expiring", properties
        )

    return {
        PUBLISH_BALANCE: publish_balance,
        ORDER_EVENT: order_event,
        RELEASE: release,
        EXPIRE: expire,
        EXPIRY_REMINDERS: expiry_reminders,
        REMIND: remind,
    }
