"""Polls and full syncs started from the console: one task per stream, progress in the store."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from connector import keys
from connector.errors import TransientError
from connector.store.tables import tasks
from connector.sync.progress import (
    JOB_STREAM,
    CannotSync,
    full_plan,
    job_view,
    poll_plan,
    recent_jobs,
    start_job,
)
from connector.worker import Worker
from tests.sync.conftest import queued
from tests.sync.test_woocommerce_polling import create_orders, minutes_ago


def run_job_tasks(services) -> None:
    """Runs the queued tasks of console jobs only (not the per-record tasks they enqueue)."""
    worker = Worker(services, threads=1, name="test")
    queue = services.queue
    while True:
        claimed = queue.claim(worker.name, limit=50)
        mine = [t for t in claimed if t.kind == JOB_STREAM]
        queue.release([t for t in claimed if t.kind != JOB_STREAM], worker.name)
        if not mine:
            return
        for task in mine:
            if worker.execute(task):
                queue.complete(task, worker.name)


def test_a_poll_job_reads_every_polled_stream_and_reaches_done(shop_services):
    create_orders(shop_services.woocommerce, 3, minutes_ago(5))
    job_id = start_job(shop_services, "woocommerce", "poll", "operator")
    started = job_view(shop_services.engine, job_id)
    assert started is not None and started.state == "queued" and started.percent == 0
    assert [s.stream for s in started.streams] == [
        "orders",
        "products",
        "customers",
        "coupons",
    ]

    run_job_tasks(shop_services)

    done = job_view(shop_services.engine, job_id)
    assert done is not None and done.state == "done" and done.percent == 100
    orders = next(s for s in done.streams if s.stream == "orders")
    assert orders.state == "done" and orders.records == 3 and orders.enqueued == 3
    assert len(queued(shop_services, "woocommerce.order")) == 3


def test_a_console_poll_shares_the_scheduled_polls_ordering_key_and_options(shop_services):
    plan = {p.stream: p for p in poll_plan(shop_services, "woocommerce")}
    assert plan["orders"].ordering_key == keys.job("poll-woocommerce-orders")
    assert plan["orders"].options == {"lookback": 600}
    start_job(shop_services, "woocommerce", "poll", "operator")
    tasks = queued(shop_services, JOB_STREAM)
    orders = next(t for t in tasks if t["payload"]["stream"] == "orders")
    assert orders["ordering_key"] == keys.job("poll-woocommerce-orders")
    assert orders["payload"]["lookback"] == 600


def test_a_second_job_of_the_same_kind_waits_for_the_first_to_finish(shop_services):
    first = start_job(shop_services, "woocommerce", "poll", "operator")
    with pytest.raises(CannotSync, match=f"job {first} has not finished"):
        start_job(shop_services, "woocommerce", "poll", "operator")
    run_job_tasks(shop_services)
    assert start_job(shop_services, "woocommerce", "poll", "operator") > first


def test_a_full_sync_job_runs_its_streams_in_order_and_reports_the_total(shop_services):
    create_orders(shop_services.woocommerce, 120, minutes_ago(30))
    assert [p.stream for p in full_plan(shop_services, "woocommerce")] == [
        "customers",
        "products",
        "orders",
    ]
    job_id = start_job(shop_services, "woocommerce", "full", "operator")
    run_job_tasks(shop_services)
    view = job_view(shop_services.engine, job_id)
    assert view is not None and view.state == "done"
    orders = next(s for s in view.streams if s.stream == "orders")
    assert (orders.pages, orders.records, orders.total) == (2, 120, 120)

    again = start_job(shop_services, "woocommerce", "full", "operator")
    run_job_tasks(shop_services)
    skipped = job_view(shop_services.engine, again)
    assert skipped is not None and {s.state for s in skipped.streams} == {"skipped"}
    over = start_job(shop_services, "woocommerce", "full", "operator", restart=True)
    run_job_tasks(shop_services)
    restarted = job_view(shop_services.engine, over)
    assert restarted is not None
    assert next(s for s in restarted.streams if s.stream == "orders").records == 120


def test_a_stream_that_fails_says_why_and_the_job_ends_failed(shop_services, monkeypatch):
    client = shop_services.woocommerce

    def down(*args, **kwargs):
        raise TransientError("shop went away")

    monkeypatch.setattr(client, "request_full", down)
    job_id = start_job(shop_services, "woocommerce", "full", "operator")
    run_job_tasks(shop_services)
    view = job_view(shop_services.engine, job_id)
    assert view is not None and view.state == "failed"
    assert all("shop went away" in (s.error or "") for s in view.streams)
    assert recent_jobs(shop_services.engine)[0].id == job_id


def test_a_system_that_is_not_configured_cannot_be_synced(services):
    with pytest.raises(CannotSync, match="nothing to poll"):
        start_job(services, "woocommerce", "poll", "operator")
    assert queued(services, JOB_STREAM) == []


def test_a_job_whose_task_was_discarded_shows_failed_and_holds_up_nothing(shop_services):
    first = start_job(shop_services, "woocommerce", "poll", "operator")
    with shop_services.engine.begin() as connection:
        connection.execute(
            update(tasks).where(tasks.c.kind == JOB_STREAM).values(state="discarded")
        )
    view = job_view(shop_services.engine, first)
    assert view is not None and view.state == "failed"
    assert "ended (discarded) unreported" in (view.streams[0].error or "")
    assert start_job(shop_services, "woocommerce", "poll", "operator") > first
