"""The loyalty tasks and jobs: balances published once per burst, release, expiry, reminders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.loyalty import LedgerProvider, OrderEvent, RecordingPublisher, register
from connector.tasks import TaskContext, TaskRegistry
from jobs import all_jobs, enqueue_job
from tests.loyalty.conftest import DAY


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def registry(publisher) -> TaskRegistry:
    built = TaskRegistry()
    register(built, publisher)
    return built


@pytest.fixture
def drain(services, registry):
    """Runs every due task with the loyalty handlers; returns the kinds run."""

    def run() -> list[str]:
        ran = []
        while tasks := services.queue.claim("test", limit=10):
            for task in tasks:
                registry.handler(task.kind)(TaskContext(task, services), task.payload)
                services.queue.complete(task, "test")
                ran.append(task.kind)
        return ran

    return run


def test_register_adds_every_loyalty_kind(registry) -> None:
    assert {
        "loyalty.publish_balance",
        "loyalty.order_event",
        "loyalty.release",
        "loyalty.expire",
        "loyalty.expiry_reminders",
        "loyalty.remind_expiry",
    } <= set(registry.kinds())


def test_the_scheduler_knows_the_loyalty_jobs() -> None:
    kinds = {job.kind for job in all_jobs()}
    assert {"loyalty.release", "loyalty.expire", "loyalty.expiry_reminders"} <= kinds


def test_a_burst_of_changes_is_published_once_with_the_final_balance(
    ledger, clock, drain, publisher
):
    for number in range(5):
        ledger.accrue("c1", f"receipt-{number}", Decimal(10))
        clock.advance(seconds=0.5)
    assert drain() == []  # the bucket has not closed yet
    clock.advance(seconds=5)
    assert drain() == ["loyalty.publish_balance"]
    assert [(c, b.available) for c, b in publisher.balances] == [("c1", Decimal("50.00"))]
    ledger.accrue("c1", "receipt-late", Decimal(1))
    clock.advance(seconds=6)
    drain()
    assert publisher.balances[-1][1].available == Decimal("51.00")


def test_a_duplicate_event_enqueues_no_publication(ledger, clock, drain, services):
    event = OrderEvent("paid", total=Decimal(100), version=1)
    ledger.apply_order_event("c1", "o1", event)
    clock.advance(seconds=10)
    drain()
    ledger.apply_order_event("c1", "o1", event)
    assert services.queue.stats().queued == 0


def test_order_events_arrive_as_tasks_too(services, ledger, clock, drain):
    payload = {"kind": "paid", "total": "200", "bonus_spent": "0", "version": 3}
    services.queue.enqueue(
        "loyalty.order_event", {"customer_id": "c7", "order_id": "woo:7", "event": payload}
    )
    drain()
    assert ledger.balance("c7").pending == Decimal("10.00")


def _run_job(services, name: str, clock, drain) -> None:
    job = next(j for j in all_jobs() if j.name == name)
    enqueue_job(services.queue, job, now=clock.now)
    drain()


def test_pending_bonuses_become_available_after_the_return_window(services, ledger, clock, drain):
    ledger.apply_order_event("c1", "o1", OrderEvent("paid", total=Decimal(1000), version=1))
    ledger.apply_order_event("c1", "o1", OrderEvent("delivered", total=Decimal(1000), at=clock.now))
    clock.advance(days=13)
    _run_job(services, "loyalty-release", clock, drain)
    assert (ledger.balance("c1").available, ledger.balance("c1").pending) == (0, 50)
    clock.advance(days=2)
    _run_job(services, "loyalty-release", clock, drain)
    assert (ledger.balance("c1").available, ledger.balance("c1").pending) == (50, 0)


def test_an_undelivered_order_stays_pending(services, ledger, clock, drain):
    ledger.apply_order_event("c1", "o1", OrderEvent("paid", total=Decimal(1000), version=1))
    clock.advance(days=60)
    _run_job(services, "loyalty-release", clock, drain)
    assert ledger.balance("c1").pending == 50


def test_a_forgotten_checkout_hold_goes_back(services, ledger, clock, drain):
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.hold("c1", "cart-1", Decimal(30))
    clock.advance(seconds=61 * 60)
    _run_job(services, "loyalty-release", clock, drain)
    assert (ledger.balance("c1").available, ledger.balance("c1").held) == (100, 0)


def test_expiry_takes_the_oldest_bonuses_first(services, ledger: LedgerProvider, clock, drain):
    ledger.accrue("c1", "lot-a", Decimal(100))  # expires on day 365
    clock.advance(days=100)
    ledger.accrue("c1", "lot-b", Decimal(100))  # expires on day 465
    clock.advance(days=100)
    ledger.hold("c1", "o1", Decimal(150))
    ledger.confirm("o1")  # spends all of lot a and half of lot b
    clock.advance(days=166)  # day 366
    _run_job(services, "loyalty-expire", clock, drain)
    assert ledger.balance("c1").available == 50
    clock.advance(days=100)  # day 466
    _run_job(services, "loyalty-expire", clock, drain)
    assert ledger.balance("c1").available == 0
    assert [e.kind for e in ledger.history("c1")][-1] == "expiry"


def test_unspent_old_bonuses_expire_and_newer_ones_stay(services, ledger, clock, drain):
    ledger.accrue("c1", "lot-a", Decimal(100))
    clock.advance(days=100)
    ledger.accrue("c1", "lot-b", Decimal(40))
    clock.advance(days=266)
    _run_job(services, "loyalty-expire", clock, drain)
    _run_job(services, "loyalty-expire", clock, drain)  # same day: nothing twice
    assert ledger.balance("c1").available == 40


def test_a_reminder_goes_out_a_week_before_bonuses_expire(
    services, ledger, clock, drain, publisher
):
    ledger.accrue("c1", "lot-a", Decimal(120))
    clock.advance(days=357.5)  # the lot expires in 7.5 days
    _run_job(services, "loyalty-expiry-reminders", clock, drain)
    assert publisher.events == [
        ("c1", "bonus_expiring", {"amount": "120.00", "date": "2028-01-15"})
    ]
    services.queue.enqueue("loyalty.expiry_reminders", {"bucket_seconds": DAY})
    drain()
    assert len(publisher.events) == 1  # one reminder per customer and expiry date


def test_no_reminder_for_bonuses_already_spent(services, ledger, clock, drain, publisher):
    ledger.accrue("c1", "lot-a", Decimal(120))
    ledger.hold("c1", "o1", Decimal(120))
    ledger.confirm("o1")
    clock.advance(days=357.5)
    _run_job(services, "loyalty-expiry-reminders", clock, drain)
    assert publisher.events == []


def test_without_a_publisher_the_balance_reaches_the_flows(services, ledger, clock):
    """The default publisher hands the available balance to connector/flows/balance.py."""
    from connector.flows.hub import load_snapshot

    built = TaskRegistry()
    register(built)
    ledger.accrue("c1", "receipt", Decimal(500))
    clock.advance(seconds=10)
    [task] = services.queue.claim("test")
    built.handler(task.kind)(TaskContext(task, services), task.payload)
    assert load_snapshot(services.engine, "customer", "c1")["bonus_balance"] == Decimal(500)


def test_an_order_without_a_customer_earns_nothing(services, drain):
    event = {"kind": "paid", "total": "10", "version": 1}
    services.queue.enqueue(
        "loyalty.order_event", {"customer_id": None, "order_id": "o", "event": event}
    )
    assert drain() == ["loyalty.order_event"]
    assert services.queue.stats().queued == 0


def test_the_order_flows_payload_spends_the_checkout_hold(services, ledger, drain):
    """The shape connector/flows/orders.py enqueues: `event` nested, the same keys flat too."""
    ledger.accrue("c1", "opening", Decimal(100))
    ledger.hold("c1", "woocommerce-727", Decimal(40))
    detail = {"kind": "paid", "total": "360.00", "bonus_spent": "40", "amount": None,
              "version": "2026-11-25T09:00:00", "at": 1_800_000_000.0}  # fmt: skip
    payload = {"customer_id": "c1", "order_id": "woocommerce-727", "event": detail, "card": None}
    payload |= {k: v for k, v in detail.items() if k != "at"}
    services.queue.enqueue("loyalty.order_event", payload)
    drain()
    assert (ledger.balance("c1").available, ledger.balance("c1").held) == (60, 0)
    assert ledger.balance("c1").pending == 18  # 5 % of the 360 paid in money
