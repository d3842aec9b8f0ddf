"""connector/observe.py: the health signals the overview and the alerts read from the store."""

from __future__ import annotations

import json

from sqlalchemy import insert

from connector import keys, observe
from connector.errors import PermanentError, RateLimited, TransientError
from connector.services import Services
from connector.store.tables import webhook_refusals
from connector.sync.cursors import save_cursor
from tests.alerts.conftest import Clock

WORKER = "w1"


def run(services: Services, kind: str, outcome: BaseException | None = None, **enqueue) -> int:
    """Enqueues a task of `kind`, claims it and finishes it with `outcome` (None: done)."""
    task_id = services.queue.enqueue(kind, {"n": 1}, **enqueue)
    assert task_id is not None
    [task] = [t for t in services.queue.claim(WORKER, 50) if t.id == task_id]
    if outcome is None:
        services.queue.complete(task, WORKER)
    else:
        services.queue.fail(task, WORKER, outcome)
    return task_id


def health(services: Services, name: str) -> observe.SystemHealth:
    return next(s for s in observe.systems_health(services) if s.name == name)


def test_a_system_fails_from_its_first_error_after_a_success_until_the_next_success(
    services: Services, clock: Clock
):
    run(services, "push.bitrix24.deal")
    ok_at = clock.now
    clock.advance(60)
    run(services, "push.bitrix24.contact", TransientError("Bitrix24 answered 503"))
    first_error_at = clock.now
    clock.advance(60)
    run(services, "push.bitrix24.deal", PermanentError("no deal for anna@example.com +79123456789"))

    failing = health(services, "bitrix24")
    assert failing.last_ok_at == ok_at
    assert failing.failing_since == first_error_at
    assert failing.failing_for(clock.now + 10) == 70
    assert failing.last_error_at == clock.now
    assert failing.last_error_kind == "push.bitrix24.deal"
    assert "anna@example.com" not in failing.last_error
    assert "79123456789" not in failing.last_error
    assert failing.last_error.startswith("PermanentError")
    assert not health(services, "mailchimp").failing

    clock.advance(60)
    run(services, "delivery.push.bitrix24")  # any task of the system that succeeds
    fine = health(services, "bitrix24")
    assert fine.failing_since is None
    assert fine.last_ok_at == clock.now
    assert fine.last_error_at == first_error_at + 60  # still shown, just no longer failing


def test_a_rate_limit_is_not_a_failure_of_the_system(services: Services, clock: Clock):
    run(services, "push.mailchimp.member", RateLimited(30))
    assert health(services, "mailchimp").failing_since is None


def test_a_polled_stream_lags_since_its_last_poll_and_a_disabled_webhook_shows(
    services: Services, clock: Clock
):
    run(services, "sync.poll", ordering_key=keys.job("poll-woocommerce-orders"))
    clock.advance(600)
    with services.engine.begin() as connection:
        save_cursor(
            connection,
            "woocommerce",
            "webhook_health",
            {
                "at": clock.now,
                "why": "watch",
                "ours": 3,
                "off": 1,
                "up": True,
                "on": ["order.updated"],
            },
        )
    woo = health(services, "woocommerce")
    orders = next(s for s in woo.streams if s.stream == "orders")
    assert orders.last_poll_at == clock.now - 600
    assert orders.lag_seconds == 600
    assert next(s for s in woo.streams if s.stream == "products").lag_seconds is None
    assert woo.last_ok_at == clock.now - 600  # the poll was a successful call to the shop
    assert woo.webhooks is not None
    assert woo.webhooks.disabled == 1 and woo.webhooks.ours == 3
    assert woo.webhooks.reenabled == ("order.updated",)
    assert not woo.webhooks.healthy


def test_the_queue_shows_depth_lag_the_last_hour_and_the_newest_dead_letter(
    services: Services, clock: Clock
):
    run(services, "shop.order")
    run(services, "shop.order", PermanentError("bad phone +7 912 345-67-89"))
    clock.advance(2 * 3600)  # all of that is older than the last hour
    run(services, "shop.order")
    run(services, "shop.customer", TransientError("timeout"))
    newest = run(services, "mailchimp.event", PermanentError("gone"))
    services.queue.enqueue("shop.cart", {}, run_at=clock.now - 90)
    services.queue.enqueue("shop.cart", {}, run_at=clock.now + 900)  # not due: no lag

    found = observe.overview(services)
    depth = found.queue
    assert depth.by_state == {"queued": 3, "waiting": 0, "running": 0, "dead": 2}
    assert observe.KindCount("shop.cart", "queued", 2) in depth.by_kind
    assert depth.lag_seconds == 90 and depth.oldest_due_kind == "shop.cart"

    hour = found.throughput
    assert (hour.done, hour.failed, hour.died) == (1, 2, 1)
    assert observe.KindFigures("shop.customer", 0, 1, 0) in hour.by_kind

    dead = found.dead_letters
    assert dead.count == 2 and dead.newest_id == newest
    assert dead.newest_kind == "mailchimp.event" and dead.newest_error == "gone"
    assert observe.dead_letters_since(services, clock.now - 60, clock.now) == (
        1,
        ["mailchimp.event"],
    )


def test_refused_webhooks_count_within_the_window_only(services: Services, clock: Clock):
    minute = int(clock.now // 60)
    with services.engine.begin() as connection:
        connection.execute(
            insert(webhook_refusals),
            [
                {"source": "woocommerce", "minute": minute, "count": 7},
                {"source": "woocommerce", "minute": minute - 2, "count": 5},
                {"source": "shop", "minute": minute - 30, "count": 100},  # long ago
            ],
        )
    refused = observe.refused_webhooks(services, window_seconds=300)
    assert refused.by_source == {"woocommerce": 12}
    assert refused.total == 12


def test_the_overview_is_plain_data_a_page_can_serialise(services: Services):
    found = observe.overview(services)
    assert json.dumps(found, default=lambda o: o.__dict__)
