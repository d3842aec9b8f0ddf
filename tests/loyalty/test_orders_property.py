"""Random lifecycles of many orders, with duplicates and reordering, end where a simple model says.

Each customer starts with an offline accrual, then places orders: some hold bonuses at checkout,
are paid (spending them), delivered (some long ago, so their bonuses are already released when a
refund arrives), partially or fully refunded, cancelled or returned. Events arrive shuffled and
some twice. The model computes each order's share undone and what it should have accrued and
spent from the final facts only, so the ledger's result must not depend on the order of events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.loyalty import LedgerProvider, OrderEvent
from tests.loyalty.conftest import DAY

PERCENT = Decimal(5)


@dataclass
class PlannedOrder:
    total: int
    spent: int
    held_at_checkout: bool
    reports_spent: bool
    paid: bool
    delivered_days_ago: float | None
    refunds: list[int]
    closing: str | None
    events: list[OrderEvent] = field(default_factory=list)


@st.composite
def orders(draw: st.DrawFn) -> PlannedOrder:
    total = draw(st.integers(min_value=1, max_value=3000))
    spent = draw(st.integers(min_value=0, max_value=total * 3 // 10))
    order = PlannedOrder(
        total=total,
        spent=spent,
        held_at_checkout=spent > 0 and draw(st.booleans()),
        reports_spent=draw(st.booleans()),
        paid=draw(st.booleans() | st.just(True)),
        delivered_days_ago=draw(st.sampled_from([None, 0.0, 30.0])),
        refunds=draw(st.lists(st.integers(min_value=1, max_value=total), max_size=3)),
        closing=draw(st.sampled_from([None, None, "cancelled", "returned"])),
    )
    return order


@st.composite
def lifecycles(
    draw: st.DrawFn,
) -> tuple[dict[str, list[PlannedOrder]], list[tuple[str, int, OrderEvent]]]:
    customers = draw(st.integers(min_value=1, max_value=3))
    plan = {f"c{i}": draw(st.lists(orders(), min_size=1, max_size=5)) for i in range(customers)}
    events: list[tuple[str, int, OrderEvent]] = []
    for customer, planned in plan.items():
        for index, order in enumerate(planned):
            total = Decimal(order.total)
            if order.paid:
                spent = Decimal(order.spent if order.reports_spent else 0)
                paid = OrderEvent("paid", total=total, bonus_spent=spent, version=1)
                events.append((customer, index, paid))
            if order.delivered_days_ago is not None:
                at = 1_800_000_000.0 - order.delivered_days_ago * DAY
                events.append((customer, index, OrderEvent("delivered", total=total, at=at)))
            for number, amount in enumerate(order.refunds):
                refund = OrderEvent(
                    "refunded", total=total, amount=Decimal(amount), refund_id=f"r{number}"
                )
                events.append((customer, index, refund))
            if order.closing:
                events.append((customer, index, OrderEvent(order.closing, total=total)))
    duplicates = draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    shuffled = draw(st.permutations(events + duplicates))
    return plan, shuffled


def whole_points(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def model(orders_of_customer: list[PlannedOrder], opening: int) -> tuple[Decimal, Decimal, Decimal]:
    """(available, pending, held) from the final facts of each order: the simple model."""
    available, pending, held = Decimal(opening), Decimal(0), Decimal(0)
    for order in orders_of_customer:
        money = order.total
        if order.closing:
            undone = Decimal(1)
        elif not order.refunds:
            undone = Decimal(0)
        elif money <= 0:
            undone = Decimal(1)
        else:
            undone = min(Decimal(1), Decimal(sum(order.refunds)) / Decimal(money))

        def left(amount: Decimal, undone: Decimal = undone) -> Decimal:
            return amount if undone == 0 else whole_points(amount * (1 - undone))

        if order.paid:
            # a payment that does not say what it spent takes the checkout hold, if any
            spent = order.spent if order.reports_spent or order.held_at_checkout else 0
            available -= left(Decimal(spent))
            accrued = left(whole_points(Decimal(order.total) * PERCENT / 100))
            if order.delivered_days_ago is not None:
                available += accrued
            else:
                pending += accrued
        elif order.held_at_checkout and not order.closing:
            available -= order.spent
            held += order.spent
    return available, pending, held


def run(ledger: LedgerProvider, plan, events, prefix: str, opening: dict[str, int]) -> None:
    for customer, planned in plan.items():
        ledger.accrue(prefix + customer, f"{prefix}{customer}:opening", Decimal(opening[customer]))
        for index, order in enumerate(planned):
            if order.held_at_checkout:
                ledger.hold(prefix + customer, f"{prefix}{customer}:{index}", Decimal(order.spent))
    for customer, index, event in events:
        ledger.apply_order_event(prefix + customer, f"{prefix}{customer}:{index}", event)
        balance = ledger.balance(prefix + customer)
        assert balance is not None
        assert min(balance.available, balance.pending, balance.held) >= 0, balance


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lifecycles())
def test_final_balances_match_the_model_whatever_the_order_of_events(ledger, clock, case) -> None:
    plan, events = case
    prefix = uuid.uuid4().hex[:8] + ":"
    clock.now = 1_800_000_000.0
    opening = {c: sum(o.spent for o in planned) + 1 for c, planned in plan.items()}
    run(ledger, plan, events, prefix, opening)
    clock.advance(days=15)
    ledger.release_due()
    for customer, planned in plan.items():
        balance = ledger.balance(prefix + customer)
        assert balance is not None
        expected = model(planned, opening[customer])
        assert (balance.available, balance.pending, balance.held) == expected
    replayed = sum(
        ledger.apply_order_event(prefix + c, f"{prefix}{c}:{i}", e) for c, i, e in events
    )
    assert replayed == 0


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lifecycles(), st.integers(min_value=0, max_value=200))
def test_balances_never_go_negative_even_when_bonuses_are_already_spent(
    ledger, clock, case, opening
) -> None:
    """With too little to cover spends and reversals, movements are capped, never negative."""
    plan, events = case
    prefix = uuid.uuid4().hex[:8] + ":"
    clock.now = 1_800_000_000.0
    for planned in plan.values():
        for order in planned:
            order.held_at_checkout = False
    run(ledger, plan, events, prefix, {c: opening or 1 for c in plan})
    replayed = sum(
        ledger.apply_order_event(prefix + c, f"{prefix}{c}:{i}", e) for c, i, e in events
    )
    assert replayed == 0
