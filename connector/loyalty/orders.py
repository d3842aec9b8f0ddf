"""Keeps bonuses consistent with orders, whatever order their events arrive in, however often.

An event only adds a fact to what is known of the order (paid with a total and bonuses spent,
delivered at, refunds by id, cancelled or returned). Facts merge the same way in any order and a
duplicate adds nothing. From the facts come targets: what the order should have accrued and spent
by now; the ledger then posts only the difference between the targets and what its entries for the
order already say. A replay finds no difference and writes nothing; a cancellation that arrives
before the payment leaves a target of zero, so the later payment accrues nothing.

Refunds reverse accrued bonuses in proportion to the refunded share of what was paid in money
(Open Loyalty's return rule, research/shop_delivery_loyalty.md §5.1) and give back the same share
of the bonuses spent on the order; a full refund, cancellation or return reverses exactly what the
order accrued and gives back all it spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, func, select

from connector.errors import PermanentError
from connector.loyalty.ledger import DAY, Postings, to_cents
from connector.loyalty.rules import LoyaltyRules
from connector.store.raw import (
    RawSQL,
    as_json,
    from_json,
    insert_into,
    run_returning,
    select_rows,
    update_where,
)
from connector.store.tables import loyalty_accounts, loyalty_entries, loyalty_orders

EVENT_KINDS = ("paid", "delivered", "refunded", "cancelled", "returned")
CLOSING = ("cancelled", "returned")


@dataclass(frozen=True)
class OrderEvent:
    """One thing that happened to an order, as the order flows report it.

    `total` is the order's total as charged: what the customer pays in money, bonuses already
    deducted (WooCommerce's `total` when bonuses are a negative fee or a coupon); `bonus_spent`
    (on `paid`) the bonuses spent on it; `amount` (on `refunded`) the money refunded, a share of
    `total`.
    `version` (an event version or timestamp) tells two events of a kind apart: two `refunded`
    events with different versions (or `refund_id`s) are two refunds, the same one twice is one.
    `at` (epoch seconds) is when it happened; `delivered` starts the return window from it.
    """

    kind: str
    total: Decimal = Decimal(0)
    bonus_spent: Decimal = Decimal(0)
    amount: Decimal | None = None
    version: str | int | None = None
    at: float | None = None
    refund_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise PermanentError(f"unknown order event {self.kind!r}", "loyalty_event")
        if self.kind == "refunded" and (self.amount is None or Decimal(self.amount) < 0):
            raise PermanentError("a refund needs a non-negative amount", "loyalty_event")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderEvent:
        """From a task payload: amounts as strings or numbers."""

        def money(name: str) -> Decimal | None:
            value = data.get(name)
            return None if value is None else Decimal(str(value))

        return cls(
            kind=str(data["kind"]),
            total=money("total") or Decimal(0),
            bonus_spent=money("bonus_spent") or Decimal(0),
            amount=money("amount"),
            version=data.get("version"),
            at=data.get("at"),
            refund_id=data.get("refund_id"),
        )

    def refund_key(self) -> str:
        return str(self.refund_id or self.version or self.amount)


@dataclass(frozen=True)
class Settled:
    """What one settlement of an order posted (entries written; 0 for a duplicate)."""

    order_id: str
    posted: int


def _newer(new: Any, old: Any) -> bool:
    if old is None:
        return True
    if new is None:
        return False
    try:
        return float(new) > float(old)
    except (TypeError, ValueError):
        return str(new) > str(old)


# An order's row is read and written in every order event's transaction: plain SQL on its
# cursor (connector/store/raw.py), every column each time.
_ORDER_COLUMNS = tuple(column.name for column in loyalty_orders.c)
_LOAD_ORDER = RawSQL(f"SELECT {', '.join(_ORDER_COLUMNS)} FROM loyalty_orders WHERE order_id = ?")
_INSERT_ORDER = insert_into("loyalty_orders", _ORDER_COLUMNS)
_UPDATE_ORDER = update_where(
    "loyalty_orders", tuple(n for n in _ORDER_COLUMNS if n != "order_id"), ("order_id",)
)


def load_order(connection: Connection, order_id: str) -> dict[str, Any] | None:
    found = select_rows(connection, _LOAD_ORDER, (order_id,))
    if not found:
        return None
    order = dict(zip(_ORDER_COLUMNS, found[0], strict=True))
    order["refunds"] = dict(from_json(order["refunds"]) or {})
    return order


def new_order(order_id: str, customer_id: str, now: float) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "total": 0,
        "bonus_spent": 0,
        "paid_version": None,
        "paid_at": None,
        "delivered_at": None,
        "closed": None,
        "closed_at": None,
        "refunds": {},
        "confirmed_spend": 0,
        "accrual": None,
        "release_due_at": None,
        "released": 0,
        "updated_at": now,
    }


def save_order(connection: Connection, order: dict[str, Any], existed: bool) -> None:
    """Writes every column of the order's row (`order` holds them all, as `new_order` and
    `load_order` make it)."""
    values = {name: order[name] for name in _ORDER_COLUMNS}
    values["refunds"] = as_json(values["refunds"])
    if existed:
        keyed = [v for name, v in values.items() if name != "order_id"] + [order["order_id"]]
        run_returning(connection, _UPDATE_ORDER, keyed)
    else:
        run_returning(connection, _INSERT_ORDER, list(values.values()))


def merge(order: dict[str, Any], event: OrderEvent, now: float) -> None:
    """Adds the event's fact to the order; the same fact twice changes nothing."""
    at = now if event.at is None else float(event.at)
    if event.kind == "paid":
        if _newer(event.version, order["paid_version"]) or order["paid_version"] is None:
            if order["paid_version"] is not None and to_cents(event.total) != order["total"]:
                order["accrual"] = None  # the order was edited after payment: accrue anew
            order["total"] = to_cents(event.total)
            # 0 means "not said": a known spend (a posted hold) is not forgotten by a later version
            order["bonus_spent"] = to_cents(event.bonus_spent) or order["bonus_spent"]
            order["paid_version"] = str(event.version if event.version is not None else "0")
            order["paid_at"] = at if order["paid_at"] is None else min(order["paid_at"], at)
    else:
        if order["paid_version"] is None and event.total:
            order["total"] = max(order["total"], to_cents(event.total))
        if event.kind == "delivered":
            known = order["delivered_at"]
            order["delivered_at"] = at if known is None else min(known, at)
        elif event.kind == "refunded":
            order["refunds"].setdefault(event.refund_key(), to_cents(event.amount))
        elif event.kind in CLOSING and order["closed"] is None:
            order["closed"], order["closed_at"] = event.kind, at
    order["updated_at"] = now


def refunded_share(order: dict[str, Any]) -> Fraction:
    """The share of the order undone: 1 once cancelled or returned, else refunds / money paid."""
    if order["closed"]:
        return Fraction(1)
    refunded = sum(int(v) for v in order["refunds"].values())
    if refunded <= 0:
        return Fraction(0)
    money = order["total"]
    return Fraction(1) if money <= 0 else min(Fraction(1), Fraction(refunded, money))


def round_step(value: Fraction, step: int) -> int:
    """Hundredths rounded half up to a multiple of `step` (100 = whole points)."""
    units = value / step
    whole = int(units)
    return (whole + (1 if units - whole >= Fraction(1, 2) else 0)) * step


def accrual_for(order: dict[str, Any], rules: LoyaltyRules, tier: str | None) -> int:
    base = order["total"] + (order["bonus_spent"] if rules.accrue_on == "total" else 0)
    percent = Fraction(str(rules.percent_for(tier)))
    return round_step(Fraction(max(base, 0)) * percent / 100, rules.points_step_cents)


def release_due(order: dict[str, Any], rules: LoyaltyRules) -> float | None:
    if order["paid_version"] is None:
        return None
    start = order["delivered_at"] if rules.pending_until == "delivered" else order["paid_at"]
    return None if start is None else start + rules.return_window_days * DAY


@dataclass
class OrderSums:
    """What the entries of one order already say, in hundredths."""

    accrued: int = 0  # counted towards the accrual target (pending or available)
    spent: int = 0  # counted towards the spend target
    taken: int = 0  # bonuses actually taken for the order (spent, not shortfall)
    given_back: int = 0
    held: int = 0
    pending: int = 0
    count: int = 0


def order_sums(connection: Connection, order_id: str) -> OrderSums:
    e = loyalty_entries.c
    rows = connection.execute(
        select(
            e.kind,
            e.reverses,
            func.sum(e.available),
            func.sum(e.pending),
            func.sum(e.held),
            func.sum(e.shortfall),
            func.count(),
        )
        .where(e.order_id == order_id)
        .group_by(e.kind, e.reverses)
    ).all()
    sums = OrderSums()
    for kind, reverses, available, pending, held, shortfall, count in rows:
        available, pending, held, shortfall = map(int, (available, pending, held, shortfall))
        sums.count += count
        sums.pending += pending
        if kind in ("hold", "void", "spend"):
            sums.held += held
        if kind in ("pending", "accrual"):
            sums.accrued += available + pending
        elif kind == "spend":
            sums.taken += -(available + held)
            sums.spent += -(available + held) + shortfall
        elif kind == "reversal" and reverses == "accrual":
            sums.accrued -= -(available + pending) + shortfall
        elif kind == "reversal" and reverses == "spend":
            sums.given_back += available
            sums.spent -= available + shortfall
    return sums


class Settlement:
    """Posts the difference between an order's targets and its entries, in one transaction."""

    def __init__(self, postings: Postings, order: dict[str, Any], rules: LoyaltyRules) -> None:
        self.p = postings
        self.order = order
        self.rules = rules
        self.id = order["order_id"]
        self.sums = order_sums(postings.connection, self.id)

    def key(self, kind: str) -> str:
        self.sums.count += 1
        return f"order:{self.id}:{self.sums.count}:{kind}"

    def lot_expiry(self) -> float | None:
        days = self.rules.expiry_days
        return self.p.now + days * DAY if days > 0 else None

    def run(self) -> None:
        share = refunded_share(self.order)
        self.settle_spending(share)
        self.void_leftover_hold()
        self.settle_accrual(share)
        self.release_if_due()

    def settle_spending(self, share: Fraction) -> None:
        order = self.order
        spent = order["confirmed_spend"]
        if order["paid_version"] is not None:
            if not order["bonus_spent"] and self.sums.held:
                # a payment that does not say what bonuses it used takes the checkout's hold
                # (two-phase: post the hold when paid, research §5.3); frozen as the order's fact
                order["bonus_spent"] = self.sums.held + order["confirmed_spend"]
            spent = max(order["bonus_spent"], spent)
        target = self.remaining(spent, share)
        gap = target - self.sums.spent
        if gap > 0:
            from_held = min(gap, self.sums.held)
            from_available = min(gap - from_held, self.p.sums.available)
            self.p.post(
                "spend",
                self.key("spend"),
                available=-from_available,
                held=-from_held,
                shortfall=gap - from_held - from_available,
                order_id=self.id,
            )
            self.sums.held -= from_held
        elif gap < 0:
            back = min(-gap, self.sums.taken - self.sums.given_back)
            self.p.post(
                "reversal",
                self.key("giveback"),
                available=back,
                shortfall=-gap - back,
                reverses="spend",
                order_id=self.id,
                expires_at=self.lot_expiry(),
            )

    def void_leftover_hold(self) -> None:
        order = self.order
        if self.sums.held > 0 and (order["paid_version"] is not None or order["closed"]):
            held, self.sums.held = self.sums.held, 0
            self.p.post("void", self.key("void"), available=held, held=-held, order_id=self.id)

    def settle_accrual(self, share: Fraction) -> None:
        order = self.order
        if order["accrual"] is None and order["paid_version"] is not None:
            tier = self.p.connection.scalar(
                select(loyalty_accounts.c.tier).where(
                    loyalty_accounts.c.customer_id == order["customer_id"]
                )
            )
            # frozen at payment: a later change of the rules does not rewrite old orders
            order["accrual"] = 0 if share >= 1 else accrual_for(order, self.rules, tier)
        target = self.remaining(order["accrual"] or 0, share)
        gap = target - self.sums.accrued
        if gap > 0:
            self.p.post("pending", self.key("pending"), pending=gap, order_id=self.id)
            self.sums.pending += gap
        elif gap < 0:
            from_pending = min(-gap, self.sums.pending)
            from_available = min(-gap - from_pending, self.p.sums.available)
            self.p.post(
                "reversal",
                self.key("reversal"),
                available=-from_available,
                pending=-from_pending,
                shortfall=-gap - from_pending - from_available,
                reverses="accrual",
                order_id=self.id,
            )
            self.sums.pending -= from_pending

    def remaining(self, amount: int, share: Fraction) -> int:
        """What is left of an amount once `share` of the order is undone, in points steps."""
        if share == 0:
            return amount
        return round_step(Fraction(amount) * (1 - share), self.rules.points_step_cents)

    def release_if_due(self) -> None:
        order = self.order
        due = release_due(order, self.rules)
        order["release_due_at"] = due
        if due is None or due > self.p.now:
            return
        if self.sums.pending > 0:
            pending, self.sums.pending = self.sums.pending, 0
            self.p.post(
                "release",
                self.key("release"),
                available=pending,
                pending=-pending,
                order_id=self.id,
                expires_at=self.lot_expiry(),
            )
        order["released"] = 1


def settle(postings: Postings, order: dict[str, Any], rules: LoyaltyRules) -> int:
    """Brings the order's entries to its targets; returns how many entries were written."""
    before = postings.posted
    Settlement(postings, order, rules).run()
    return postings.posted - before
