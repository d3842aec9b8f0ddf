"""Stories of one customer's bonuses: accrual, pending, spending, refunds, odd event orders."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.loyalty import (
    InsufficientBalance,
    LedgerProvider,
    LoyaltyRefused,
    OrderEvent,
    apply_order_event,
)
from connector.loyalty.ledger import luhn_digit
from connector.store.tables import identity_keys, loyalty_entries
from tests.loyalty.conftest import DAY


def paid(total, spent=0, version=1) -> OrderEvent:
    return OrderEvent("paid", total=Decimal(total), bonus_spent=Decimal(spent), version=version)


def refund(amount, refund_id) -> OrderEvent:
    return OrderEvent("refunded", total=Decimal(1000), amount=Decimal(amount), refund_id=refund_id)


def balances(ledger: LedgerProvider, customer: str = "c1") -> tuple[Decimal, Decimal, Decimal]:
    found = ledger.balance(customer)
    assert found is not None
    return found.available, found.pending, found.held


def test_a_paid_order_accrues_pending_bonuses_on_what_was_paid_in_money(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.apply_order_event("c1", "o1", paid(900, spent=100))
    assert balances(ledger) == (0, 45, 0)  # 5 % of the 900 paid; the 100 bonuses are spent


def test_bonuses_accrued_offline_are_there_at_the_next_online_purchase(ledger, clock) -> None:
    ledger.apply_order_event("c1", "pos:17", paid(600), card="7700123")
    ledger.apply_order_event("c1", "pos:17", OrderEvent("delivered", at=clock.now))
    clock.advance(days=15)
    ledger.release_due()
    found = ledger.find_customer(card="7700123")
    assert found == "c1"
    assert ledger.hold(found, "woo:1", Decimal(30), order_total=Decimal(100)).available == 0


def test_the_same_event_twice_changes_nothing_the_second_time(ledger) -> None:
    assert ledger.apply_order_event("c1", "o1", paid(1000)) == 1
    assert ledger.apply_order_event("c1", "o1", paid(1000)) == 0
    assert ledger.apply_order_event("c1", "o1", refund(500, "r1")) == 1
    assert ledger.apply_order_event("c1", "o1", refund(500, "r1")) == 0
    assert balances(ledger) == (0, 25, 0)


def test_cancelled_before_paid_the_later_payment_accrues_nothing(ledger) -> None:
    ledger.apply_order_event("c1", "o1", OrderEvent("cancelled", total=Decimal(1000)))
    assert ledger.apply_order_event("c1", "o1", paid(1000)) == 0
    assert balances(ledger) == (0, 0, 0)


def test_partial_refunds_reverse_proportionally_and_a_full_one_exactly(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(200))
    ledger.apply_order_event("c1", "o1", paid(1000, spent=100))  # accrues 50 on 1000 paid
    ledger.apply_order_event("c1", "o1", refund(300, "r1"))  # 30 % back
    assert balances(ledger) == (130, 35, 0)
    ledger.apply_order_event("c1", "o1", refund(700, "r2"))  # the rest
    assert balances(ledger) == (200, 0, 0)
    ledger.apply_order_event("c1", "o1", OrderEvent("returned", total=Decimal(1000)))
    assert balances(ledger) == (200, 0, 0)


def test_a_refund_after_release_takes_from_available(ledger, clock) -> None:
    ledger.apply_order_event("c1", "o1", OrderEvent("delivered", at=clock.now - 20 * DAY))
    ledger.apply_order_event("c1", "o1", paid(1000))
    assert balances(ledger) == (50, 0, 0)
    ledger.apply_order_event("c1", "o1", refund(200, "r1"))
    assert balances(ledger) == (40, 0, 0)


def test_a_reversal_never_makes_the_balance_negative(ledger, clock) -> None:
    ledger.apply_order_event("c1", "o1", OrderEvent("delivered", at=clock.now - 20 * DAY))
    ledger.apply_order_event("c1", "o1", paid(1000))
    ledger.hold("c1", "o2", Decimal(50))
    ledger.confirm("o2")  # the customer already spent the bonuses of o1
    ledger.apply_order_event("c1", "o1", OrderEvent("cancelled", total=Decimal(1000)))
    assert balances(ledger) == (0, 0, 0)
    last = ledger.history("c1")[-1]
    assert (last.kind, last.reverses, last.shortfall) == ("reversal", "accrual", Decimal(50))
    assert ledger.apply_order_event("c1", "o1", OrderEvent("cancelled", total=Decimal(1000))) == 0


def test_paying_spends_the_checkout_hold_and_returns_what_was_not_used(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(300))
    ledger.hold("c1", "o1", Decimal(200))
    ledger.apply_order_event("c1", "o1", paid(850, spent=150))
    assert balances(ledger) == (150, 43, 0)  # 5 % of 850 = 42.5, rounded half up


def test_cancelling_an_order_returns_its_hold_and_its_spent_bonuses(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(300))
    ledger.hold("c1", "o1", Decimal(100))
    ledger.confirm("o1")
    ledger.apply_order_event("c1", "o1", OrderEvent("cancelled", total=Decimal(1000)))
    assert balances(ledger) == (300, 0, 0)


def test_a_hold_cannot_exceed_the_balance_or_the_payable_share(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    with pytest.raises(InsufficientBalance):
        ledger.hold("c1", "o1", Decimal("100.01"))
    with pytest.raises(LoyaltyRefused):
        ledger.hold("c1", "o1", Decimal(31), order_total=Decimal(100))
    assert balances(ledger) == (100, 0, 0)


def test_a_new_hold_for_the_same_order_replaces_the_old_one(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.hold("c1", "o1", Decimal(60))
    ledger.hold("c1", "o1", Decimal(90))
    assert balances(ledger) == (10, 0, 90)


def test_accrual_percent_follows_the_tier(services, clock) -> None:
    rules = replace(LedgerProvider(services.engine).rules, tier_percents={"gold": Decimal(10)})
    ledger = LedgerProvider(services.engine, rules, services.queue, clock)
    ledger.open_account("c1")
    ledger.set_tier("c1", "gold")
    ledger.apply_order_event("c1", "o1", paid(1000))
    assert balances(ledger) == (0, 100, 0)


def test_pending_until_paid_releases_after_the_window_from_payment(services, clock) -> None:
    rules = replace(LedgerProvider(services.engine).rules, pending_until="paid",
                    return_window_days=0)  # fmt: skip
    ledger = LedgerProvider(services.engine, rules, services.queue, clock)
    ledger.apply_order_event("c1", "o1", paid(1000))
    assert balances(ledger) == (50, 0, 0)


def test_a_card_is_issued_on_first_purchase_and_found_again(ledger, services) -> None:
    ledger.apply_order_event("c1", "o1", paid(100))
    card = ledger.balance("c1").card_number
    assert card.startswith("77") and len(card) == 13
    assert luhn_digit(card[:-1]) == card[-1]
    assert ledger.find_customer(card=card) == "c1"
    with services.engine.connect() as connection:
        keys = connection.execute(select(identity_keys).where(identity_keys.c.kind == "card")).all()
    assert [(k.value, k.canonical_id) for k in keys] == [(card, "c1")]


def test_a_card_from_the_pos_is_kept(ledger) -> None:
    ledger.apply_order_event("c1", "pos:1", paid(100), card="2900001234567")
    assert ledger.balance("c1").card_number == "2900001234567"


def test_entries_are_only_ever_added(ledger, services) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.apply_order_event("c1", "o1", paid(1000, spent=100))
    with services.engine.connect() as connection:
        before = connection.execute(select(loyalty_entries).order_by(loyalty_entries.c.id)).all()
    ledger.apply_order_event("c1", "o1", OrderEvent("cancelled", total=Decimal(1000)))
    with services.engine.connect() as connection:
        after = connection.execute(select(loyalty_entries).order_by(loyalty_entries.c.id)).all()
    assert after[: len(before)] == before and len(after) > len(before)


def test_the_module_function_for_the_order_flows(services, clock) -> None:
    written = apply_order_event(services.engine, "c9", "woo:9", paid(400), queue=services.queue,
                                clock=clock)  # fmt: skip
    assert written == 1
    assert LedgerProvider(services.engine).balance("c9").pending == 20


def test_unknown_event_kinds_are_refused() -> None:
    with pytest.raises(Exception, match="unknown order event"):
        OrderEvent("shipped")


def test_a_payment_that_does_not_say_what_it_spent_takes_the_checkout_hold(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.hold("c1", "woocommerce-5", Decimal(40))
    ledger.apply_order_event("c1", "woocommerce-5", paid(360))  # bonus_spent not reported
    assert balances(ledger) == (60, 18, 0)
    ledger.apply_order_event("c1", "woocommerce-5", paid(360, version=2))
    assert balances(ledger) == (60, 18, 0)


def test_bonuses_confirmed_at_checkout_are_not_given_back_by_the_payment(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.hold("c1", "woocommerce-6", Decimal(40))
    ledger.confirm("woocommerce-6")
    ledger.apply_order_event("c1", "woocommerce-6", paid(360))
    assert balances(ledger) == (60, 18, 0)


def test_an_order_edited_after_payment_accrues_on_its_new_total(ledger) -> None:
    ledger.apply_order_event("c1", "o1", paid(1000, version=1))
    ledger.apply_order_event("c1", "o1", paid(600, version=2))
    ledger.apply_order_event("c1", "o1", paid(1000, version=1))  # late, older: ignored
    assert balances(ledger) == (0, 30, 0)
