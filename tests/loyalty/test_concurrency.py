"""Workers racing on one account: the same events applied at once still count once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from connector.loyalty import OrderEvent


def test_duplicate_events_applied_in_parallel_count_once(ledger) -> None:
    ledger.accrue("c1", "opening", Decimal(1000))
    events = []
    for number in range(10):
        events.append(
            (
                f"o{number}",
                OrderEvent("paid", total=Decimal(200), bonus_spent=Decimal(20), version=1),
            )
        )
        events.append(
            (
                f"o{number}",
                OrderEvent("refunded", total=Decimal(200), amount=Decimal(50), refund_id="r1"),
            )
        )
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda item: ledger.apply_order_event("c1", *item), events * 4))
    balance = ledger.balance("c1")
    # each order spends 20 and gets a quarter (5) back; it accrues 10 pending, of which
    # three quarters (7.5, rounded half up to 8) remain
    assert (balance.available, balance.pending) == (1000 - 10 * 15, 10 * 8)


def test_the_first_events_of_a_new_customer_at_once_open_one_account(ledger) -> None:
    """No account yet: every racing transaction would create it (PostgreSQL lets them all try)."""
    events = [
        (f"o{number}", OrderEvent("paid", total=Decimal(100), version=1)) for number in range(8)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: ledger.apply_order_event("new", *item), events))
    balance = ledger.balance("new")
    assert balance is not None and balance.card_number
    assert (balance.available, balance.pending) == (0, 8 * 5)
