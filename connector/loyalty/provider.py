"""The loyalty provider interface, and the built-in ledger that implements it (the default).

Flows, the checkout API, the CLI and the jobs speak only to a `LoyaltyProvider`; which one runs
is `CONNECTOR_LOYALTY_PROVIDER` (`ledger` or `openloyalty`, see `openloyalty.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, func, select, update

from connector.errors import PermanentError
from connector.loyalty import lots
from connector.loyalty.ledger import (
    DAY,
    Balance,
    Entry,
    InsufficientBalance,
    LoyaltyRefused,
    Postings,
    account_transaction,
    find_customer,
    from_cents,
    history,
    read_balance,
    to_cents,
)
from connector.loyalty.orders import (
    OrderEvent,
    load_order,
    merge,
    new_order,
    order_sums,
    save_order,
    settle,
)
from connector.loyalty.publish import enqueue_publish
from connector.loyalty.rules import LoyaltyRules
from connector.queue import Queue
from connector.store import reading
from connector.store.tables import loyalty_accounts, loyalty_entries, loyalty_orders


class LoyaltyProvider(Protocol):
    """What the rest of the connector asks of a loyalty system."""

    def balance(self, customer_id: str) -> Balance | None: ...

    def find_customer(
        self, card: str | None = None, phone: str | None = None, email: str | None = None
    ) -> str | None: ...

    def apply_order_event(
        self, customer_id: str, order_id: str, event: OrderEvent, card: str | None = None
    ) -> int: ...

    def hold(
        self, customer_id: str, order_id: str, amount: Decimal, order_total: Decimal | None = None
    ) -> Balance: ...

    def confirm(self, order_id: str, amount: Decimal | None = None) -> Balance: ...

    def release(self, order_id: str) -> Balance: ...

    def accrue(self, customer_id: str, key: str, amount: Decimal, reason: str = "") -> bool: ...


class LedgerProvider:
    """The built-in ledger in the connector's store (`ledger.py`, `orders.py`, `lots.py`)."""

    def __init__(
        self,
        engine: Engine,
        rules: LoyaltyRules | None = None,
        queue: Queue | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.rules = rules or LoyaltyRules()
        self.queue = queue or Queue(engine, clock=clock)
        self.clock = clock

    # -- reading ------------------------------------------------------------------------------

    def balance(self, customer_id: str) -> Balance | None:
        with reading(self.engine) as connection:
            return read_balance(connection, customer_id)

    def find_customer(
        self, card: str | None = None, phone: str | None = None, email: str | None = None
    ) -> str | None:
        with reading(self.engine) as connection:
            return find_customer(connection, card=card, phone=phone, email=email)

    def history(self, customer_id: str, limit: int = 100) -> list[Entry]:
        with reading(self.engine) as connection:
            return history(connection, customer_id, limit)

    # -- writing ------------------------------------------------------------------------------

    def _transaction(self, customer_id: str, card: str | None = None) -> Any:
        return account_transaction(
            self.engine, customer_id, self.clock(), self.rules, card, self._changed
        )

    def _changed(self, connection: Connection, customer_id: str) -> None:
        enqueue_publish(
            self.queue, connection, customer_id, self.clock(), self.rules.coalesce_seconds
        )

    def open_account(self, customer_id: str, card: str | None = None) -> Balance:
        """The customer's account, created (with a card issued or the given one) if missing."""
        with self._transaction(customer_id, card) as postings:
            return _balance(postings)

    def set_tier(self, customer_id: str, tier: str | None) -> None:
        with self._transaction(customer_id) as postings:
            postings.connection.execute(
                update(loyalty_accounts)
                .where(loyalty_accounts.c.customer_id == customer_id)
                .values(tier=tier)
            )

    def accrue(self, customer_id: str, key: str, amount: Decimal, reason: str = "") -> bool:
        """Adds available bonuses at once (offline accrual, goodwill); once per customer + `key`."""
        cents = to_cents(amount)
        if cents <= 0:
            raise PermanentError("an accrual must be positive", "loyalty_amount")
        with self._transaction(customer_id) as postings:
            days = self.rules.expiry_days
            return postings.post(
                "accrual",
                f"accrual:{customer_id}:{key}",
                available=cents,
                expires_at=postings.now + days * DAY if days > 0 else None,
                detail={"reason": reason} if reason else None,
            )

    def adjust(
        self,
        customer_id: str,
        key: str,
        amount: Decimal,
        reason: str,
        by: str,
        on_posted: Callable[[Connection], None] | None = None,
    ) -> bool:
        """A correction by support: adds `amount` of available bonuses (a lot that expires as
        an accrual does) or, when negative, takes them (never below zero: `InsufficientBalance`).
        Once per customer + `key`: False, and nothing written, when the key was used before.
        `on_posted(connection)` runs in the same transaction when the entry is written (the
        console's audit line), so the two are written together or not at all."""
        cents = to_cents(amount)
        if cents == 0:
            raise PermanentError("an adjustment must not be zero", "loyalty_amount")
        if not reason.strip():
            raise PermanentError("an adjustment needs a reason", "loyalty_reason")
        with self._transaction(customer_id) as postings:
            days = self.rules.expiry_days
            expires = postings.now + days * DAY if cents > 0 and days > 0 else None
            posted = postings.post(
                "adjustment",
                f"adjustment:{customer_id}:{key}",
                available=cents,
                expires_at=expires,
                detail={"reason": reason.strip(), "by": by},
            )
            if posted and on_posted is not None:
                on_posted(postings.connection)
            return posted

    def apply_order_event(
        self, customer_id: str, order_id: str, event: OrderEvent, card: str | None = None
    ) -> int:
        """Adds the event's fact to the order and posts what changed; returns entries written."""
        with self._transaction(customer_id, card) as postings:
            order = load_order(postings.connection, order_id)
            existed = order is not None
            if order is None:
                order = new_order(order_id, customer_id, postings.now)
            merge(order, event, postings.now)
            written = settle(postings, order, self.rules)
            save_order(postings.connection, order, existed)
            return written

    # -- checkout -----------------------------------------------------------------------------

    def hold(
        self, customer_id: str, order_id: str, amount: Decimal, order_total: Decimal | None = None
    ) -> Balance:
        """Reserves bonuses for an order at checkout; a new amount replaces the order's hold."""
        cents = to_cents(amount)
        if cents <= 0:
            raise LoyaltyRefused("amount must be positive", "amount")
        if order_total is not None:
            limit = Fraction(to_cents(order_total)) * Fraction(str(self.rules.max_share_percent))
            if cents * 100 > limit:
                share = self.rules.max_share_percent
                raise LoyaltyRefused(f"at most {share}% of the order can be paid with bonuses",
                                     "over_share")  # fmt: skip
        with self._transaction(customer_id) as postings:
            order = load_order(postings.connection, order_id)
            if order is not None and (order["closed"] or order["paid_version"] is not None):
                raise LoyaltyRefused(f"order {order_id} is already paid or closed", "order_closed")
            sums = order_sums(postings.connection, order_id)
            if sums.held == cents:
                return _balance(postings)
            if cents > postings.sums.available + sums.held:
                raise InsufficientBalance(cents, postings.sums.available + sums.held)
            count = sums.count
            if sums.held:
                count += 1
                postings.post("void", f"order:{order_id}:{count}:void", available=sums.held,
                              held=-sums.held, order_id=order_id)  # fmt: skip
            postings.post("hold", f"order:{order_id}:{count + 1}:hold", available=-cents,
                          held=cents, order_id=order_id)  # fmt: skip
            return _balance(postings)

    def confirm(self, order_id: str, amount: Decimal | None = None) -> Balance:
        """Spends an order's hold (or part of it; the rest goes back to the balance)."""
        customer_id = self._holder(order_id)
        with self._transaction(customer_id) as postings:
            sums = order_sums(postings.connection, order_id)
            spend = sums.held if amount is None else to_cents(amount)
            if spend > sums.held or spend < 0:
                raise LoyaltyRefused(
                    f"order {order_id} holds {from_cents(sums.held)}, cannot spend "
                    f"{from_cents(spend)}",
                    "amount",
                )
            order = load_order(postings.connection, order_id)
            existed = order is not None
            if order is None:
                order = new_order(order_id, customer_id, postings.now)
            order["confirmed_spend"] = sums.taken - sums.given_back + spend
            if spend:
                postings.post("spend", f"order:{order_id}:{sums.count + 1}:spend",
                              held=-spend, order_id=order_id)  # fmt: skip
            if sums.held > spend:
                rest = sums.held - spend
                postings.post("void", f"order:{order_id}:{sums.count + 2}:void",
                              available=rest, held=-rest, order_id=order_id)  # fmt: skip
            settle(postings, order, self.rules)
            save_order(postings.connection, order, existed)
            return _balance(postings)

    def release(self, order_id: str) -> Balance:
        """Gives an order's hold back to the balance (checkout abandoned); idempotent."""
        customer_id = self._holder(order_id)
        with self._transaction(customer_id) as postings:
            sums = order_sums(postings.connection, order_id)
            if sums.held:
                postings.post("void", f"order:{order_id}:{sums.count + 1}:void",
                              available=sums.held, held=-sums.held, order_id=order_id)  # fmt: skip
            return _balance(postings)

    def _holder(self, order_id: str) -> str:
        with reading(self.engine) as connection:
            found = connection.scalar(
                select(loyalty_entries.c.customer_id)
                .where(loyalty_entries.c.order_id == order_id, loyalty_entries.c.kind == "hold")
                .limit(1)
            )
        if found is None:
            raise LoyaltyRefused(f"no hold for order {order_id}", "not_found", 404)
        return str(found)

    # -- scheduled work -----------------------------------------------------------------------

    def release_due(self, now: float | None = None) -> int:
        """Settles every order whose return window has passed (pending → available)."""
        now = self.clock() if now is None else now
        with reading(self.engine) as connection:
            due = connection.execute(
                select(loyalty_orders.c.order_id, loyalty_orders.c.customer_id).where(
                    loyalty_orders.c.released == 0, loyalty_orders.c.release_due_at <= now
                )
            ).all()
        written = 0
        for order_id, customer_id in due:
            with self._transaction(customer_id) as postings:
                order = load_order(postings.connection, order_id)
                if order is None:
                    continue
                written += settle(postings, order, self.rules)
                save_order(postings.connection, order, True)
        return written

    def void_stale_holds(self, now: float | None = None) -> int:
        """Releases checkout holds older than the rules' time-out."""
        now = self.clock() if now is None else now
        cutoff = now - self.rules.hold_timeout_minutes * 60
        e = loyalty_entries.c
        with reading(self.engine) as connection:
            stale = connection.execute(
                select(e.order_id)
                .where(e.kind.in_(("hold", "void", "spend")), e.order_id.is_not(None))
                .group_by(e.order_id)
                .having(func.sum(e.held) > 0, func.max(e.created_at) < cutoff)
            ).scalars()
            orders = list(stale)
        for order_id in orders:
            self.release(order_id)
        return len(orders)

    def expire_due(self, now: float | None = None) -> int:
        """Posts the expiry of every lot past its date, oldest first; returns accounts touched."""
        now = self.clock() if now is None else now
        e = loyalty_entries.c
        with reading(self.engine) as connection:
            customers = list(
                connection.scalars(
                    select(e.customer_id)
                    .where(e.expires_at <= now, e.available > 0)
                    .distinct()
                    .order_by(e.customer_id)
                )
            )
            # most of them have long spent or expired those lots: look before taking a write lock
            customers = [c for c in customers if lots.expired_by(connection, c, now) > 0]
        touched = 0
        for customer_id in customers:
            with self._transaction(customer_id) as postings:
                amount = min(lots.expired_by(postings.connection, customer_id, now),
                             postings.sums.available)  # fmt: skip
                if amount <= 0:
                    continue
                count = postings.connection.scalar(
                    select(func.count()).where(e.customer_id == customer_id, e.kind == "expiry")
                )
                postings.post("expiry", f"expiry:{customer_id}:{count + 1}", available=-amount,
                              detail={"as_of": now})  # fmt: skip
                touched += 1
        return touched

    def expiring_soon(
        self, now: float | None = None, window_days: float = 1.0
    ) -> list[tuple[str, Decimal, float]]:
        """(customer, amount, first expiry) for bonuses expiring `remind_days_before` from now,
        in a window of `window_days`: who gets a `bonus_expiring` reminder today."""
        now = self.clock() if now is None else now
        start = now + self.rules.remind_days_before * DAY
        end = start + window_days * DAY
        e = loyalty_entries.c
        found = []
        with reading(self.engine) as connection:
            customers = list(
                connection.scalars(
                    select(e.customer_id)
                    .where(e.expires_at > start, e.expires_at <= end, e.available > 0)
                    .distinct()
                    .order_by(e.customer_id)
                )
            )
            for customer_id in customers:
                amount, first = lots.expiring_between(connection, customer_id, start, end)
                if amount > 0 and first is not None:
                    found.append((customer_id, from_cents(amount), first))
        return found


def _balance(postings: Postings) -> Balance:
    balance = read_balance(postings.connection, postings.customer_id)
    assert balance is not None
    return balance
