"""Carries balances and expiry reminders out to Bitrix24 and Mailchimp, through one small interface.

The ledger never calls a remote system: after any change it enqueues `loyalty.publish_balance`
in the same transaction, keyed by customer and time bucket, to run when the bucket closes. A
burst of changes inside a bucket is therefore one task, and the task reads the balance fresh when
it runs; a change after it ran falls into a later bucket and enqueues a new one. The flows provide
the `BalancePublisher` that writes the Bitrix24 contact field and the Mailchimp merge field.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import Connection, select

from connector import keys
from connector.loyalty.ledger import Balance
from connector.store.tables import tasks

if TYPE_CHECKING:
    from connector.queue import Queue
    from connector.services import Services

log = logging.getLogger(__name__)

PUBLISH_BALANCE = "loyalty.publish_balance"
REMIND = "loyalty.remind_expiry"


@runtime_checkable
class BalancePublisher(Protocol):
    """What the loyalty tasks need from the CRM and e-mail side."""

    def publish(self, customer_id: str, balance: Balance) -> None:
        """Writes the balance to the customer's Bitrix24 contact and Mailchimp member."""

    def send_event(self, customer_id: str, name: str, properties: dict[str, Any]) -> None:
        """Sends a member event (e.g. `bonus_expiring` with `amount` and `date`) to Mailchimp."""


class LoggingPublisher:
    """Stands in until the flows provide a real publisher: logs, writes nothing."""

    def publish(self, customer_id: str, balance: Balance) -> None:
        log.info("loyalty balance of %s: %s (no publisher configured)", customer_id, balance)

    def send_event(self, customer_id: str, name: str, properties: dict[str, Any]) -> None:
        log.info("loyalty event %s for %s: %s (no publisher)", name, customer_id, properties)


class FlowsPublisher:
    """The flows' publisher (connector/flows/balance.py): the available balance goes to the
    Bitrix24 contact field and the Mailchimp merge field that map `bonus_balance`, events go to
    Mailchimp as member events. Each call only queues push tasks, one per target system."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def publish(self, customer_id: str, balance: Balance) -> None:
        from connector.flows.balance import publish_balance

        publish_balance(self.services, customer_id, balance.available)

    def send_event(self, customer_id: str, name: str, properties: dict[str, Any]) -> None:
        from connector.flows.balance import send_member_event

        key = f"{name}:{customer_id}:{properties.get('date', '')}"
        send_member_event(self.services, customer_id, name, properties, dedupe_key=key)


def default_publisher(services: Services) -> BalancePublisher:
    """The flows' publisher when the flows are installed, else one that only logs."""
    import importlib.util

    if importlib.util.find_spec("connector.flows.balance") is not None:
        return FlowsPublisher(services)
    return LoggingPublisher()


class RecordingPublisher:
    """Keeps what it was asked to publish: for tests and the sandbox demo."""

    def __init__(self) -> None:
        self.balances: list[tuple[str, Balance]] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, customer_id: str, balance: Balance) -> None:
        self.balances.append((customer_id, balance))

    def send_event(self, customer_id: str, name: str, properties: dict[str, Any]) -> None:
        self.events.append((customer_id, name, properties))


def enqueue_publish(
    queue: Queue, connection: Connection, customer_id: str, now: float, coalesce_seconds: float
) -> int | None:
    """Enqueues this bucket's balance publication for the customer (a no-op if already there)."""
    bucket: int | str
    if coalesce_seconds > 0:
        bucket = math.floor(now / coalesce_seconds)
        run_at = (bucket + 1) * coalesce_seconds
    else:
        bucket, run_at = f"{now:.6f}", now
    dedupe_key = keys.balance_bucket(customer_id, bucket)
    if connection.scalar(select(tasks.c.id).where(tasks.c.dedupe_key == dedupe_key)):
        return None  # the usual case in a burst; cheaper than the queue's insert-or-ignore
    return queue.enqueue(
        PUBLISH_BALANCE,
        {"customer_id": customer_id},
        dedupe_key=dedupe_key,
        run_at=run_at,
        ordering_key=keys.balance(customer_id),
        connection=connection,
    )


def expiring_event(amount: Decimal, expires_at: float) -> dict[str, Any]:
    """The properties of a `bonus_expiring` member event."""
    import datetime as dt

    day = dt.datetime.fromtimestamp(expires_at, dt.UTC).date().isoformat()
    return {"amount": str(amount), "date": day}
