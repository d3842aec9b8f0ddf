"""Webhooks the shop disabled after failed deliveries are switched back on; paused ones are not.

The shop is asked when a scheduler starts, when our public URL answers again, every minute while a
check keeps finding trouble, and every 15 minutes otherwise; `connector status` tells the result.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from connector.audit import writes
from connector.cli import main
from connector.scheduler import build_scheduler
from connector.services import Services
from connector.sync.webhook_health import (
    CHECK_EVERY_SECONDS,
    _save,
    health_status,
    reenable_webhooks,
    run_health_check,
)
from connector.systems.woocommerce.setup import webhook_url
from connector.tasks import TaskContext
from jobs import all_jobs, enqueue_job
from tests.sync.conftest import queued, sandbox_services
from tests.sync.test_woocommerce_polling import create_orders, minutes_ago

JOBS = all_jobs()  # the jobs of every system (their declarations)

DOWN = "http://127.0.0.1:9"  # nothing listens there: every delivery to us fails
HEALTH_JOB = next(job for job in JOBS if job.kind == "sync.webhook_health")


def order_hook(services: Services) -> dict[str, Any]:
    ours = webhook_url(services.settings.public_url)
    [hook] = [h for h in services.woocommerce.list_webhooks() if h["delivery_url"] == ours]
    return hook


def set_status(services: Services, hook: dict[str, Any], status: str) -> None:
    services.woocommerce.request("PUT", f"/webhooks/{hook['id']}", json={"status": status})


def run_health_tasks(services: Services) -> list[dict[str, Any]]:
    """Runs the queued `sync.webhook_health` tasks (only those) as a worker would."""
    ran = []
    handler = services.registry.handler("sync.webhook_health")
    while claimed := services.queue.claim("test", limit=50):
        for task in claimed:
            if task.kind == "sync.webhook_health":
                handler(TaskContext(task, services), task.payload)
                ran.append(task.payload)
            services.queue.complete(task, "test")
    return ran


def test_disabled_webhooks_to_us_are_reactivated(tmp_path, fresh_sandbox):
    services = sandbox_services(tmp_path, fresh_sandbox, public_url="http://127.0.0.1:9")
    client = services.woocommerce
    ours = webhook_url("http://127.0.0.1:9")
    client.ensure_webhooks(ours, "secret", ["order.updated", "order.created"])
    client.ensure_webhooks("http://elsewhere.invalid/hook", "s", ["order.updated"])
    hooks = {(h["delivery_url"], h["topic"]): h for h in client.list_webhooks()}
    for key, status in (
        ((ours, "order.updated"), "disabled"),
        ((ours, "order.created"), "paused"),
        (("http://elsewhere.invalid/hook", "order.updated"), "disabled"),
    ):
        client.request("PUT", f"/webhooks/{hooks[key]['id']}", json={"status": status})

    assert reenable_webhooks(services) == ["order.updated"]
    now = {(h["delivery_url"], h["topic"]): h["status"] for h in client.list_webhooks()}
    assert now == {
        (ours, "order.updated"): "active",
        (ours, "order.created"): "paused",
        ("http://elsewhere.invalid/hook", "order.updated"): "disabled",
    }
    assert reenable_webhooks(services) == []
    services.close()


def test_the_shop_disables_a_hook_that_failed_more_than_five_times_in_a_row(
    tmp_path, fresh_sandbox
):
    # class-wc-webhook.php failed_delivery(): `failure_count > 5` disables, else count + 1
    services = sandbox_services(tmp_path, fresh_sandbox, public_url=DOWN)
    services.woocommerce.ensure_webhooks(webhook_url(DOWN), "secret", ["order.created"])
    create_orders(services.woocommerce, 6, minutes_ago(1))
    fresh_sandbox.control("woocommerce", "POST", "deliveries/wait").raise_for_status()
    assert order_hook(services)["status"] == "active"

    create_orders(services.woocommerce, 1, minutes_ago(1))
    fresh_sandbox.control("woocommerce", "POST", "deliveries/wait").raise_for_status()
    assert order_hook(services)["status"] == "disabled"
    services.close()


def test_a_hook_the_shop_disabled_while_we_were_down_is_back_on_at_start_and_status_says_so(
    tmp_path, fresh_sandbox, store_url, monkeypatch
):
    services = sandbox_services(tmp_path, fresh_sandbox, public_url=DOWN, database_url=store_url)
    services.woocommerce.ensure_webhooks(webhook_url(DOWN), "secret", ["order.created"])
    # the process that went down had already run this bucket's check
    assert enqueue_job(services.queue, HEALTH_JOB) is not None
    run_health_tasks(services)
    create_orders(services.woocommerce, 7, minutes_ago(1))
    fresh_sandbox.control("woocommerce", "POST", "deliveries/wait").raise_for_status()
    assert order_hook(services)["status"] == "disabled"

    build_scheduler(services)  # what `connector run` and `connector scheduler` do first
    assert {"start": True} in run_health_tasks(services)

    hook = order_hook(services)
    assert hook["status"] == "active"
    [audited] = writes(services.engine, entity="webhook")
    assert (audited["action"], audited["external_id"]) == ("reenable", str(hook["id"]))
    assert audited["detail"]["topic"] == "order.created"

    for key, value in fresh_sandbox.settings_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", DOWN)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    report = json.loads(CliRunner().invoke(main, ["status", "--json"]).output)
    check = report["webhooks"]["woocommerce"]
    assert (check["reason"], check["ours"], check["found"]) == ("start", 1, 1)
    assert check["reenabled"] == ["order.created"] and check["reachable"] is False
    assert "webhook_health" not in {row["stream"] for row in report["cursors"]}
    table = CliRunner().invoke(main, ["status"]).output
    assert "webhooks: woocommerce checked" in table and "(start): 1 of ours, 1 found" in table
    assert "last re-enabled order.created" in table
    services.close()


def test_the_shop_is_asked_when_our_url_answers_again_and_watched_until_all_is_well(
    tmp_path, fresh_sandbox, store_url
):
    services = sandbox_services(tmp_path, fresh_sandbox, public_url=DOWN, database_url=store_url)
    services.woocommerce.ensure_webhooks(webhook_url(DOWN), "secret", ["order.created"])
    now = [1_000_000.0]
    services.queue.clock = lambda: now[0]
    up = [False]

    def check(minutes: int) -> dict[str, Any] | None:
        now[0] = 1_000_000.0 + 60 * minutes
        return run_health_check(services, probe=lambda url: up[0])

    assert check(0)["reason"] == "first check"
    set_status(services, order_hook(services), "disabled")  # while our URL did not answer
    check(1)
    assert order_hook(services)["status"] == "disabled"  # nothing new: the shop was not asked

    up[0] = True  # the web server or the tunnel is back
    state = check(2)
    assert (state["reason"], state["found"], state["reachable"]) == ("reachable again", 1, True)
    assert order_hook(services)["status"] == "active"

    set_status(services, order_hook(services), "disabled")  # deliveries failed once more
    assert check(3)["reason"] == "watch"  # the last check found one off: look again
    assert order_hook(services)["status"] == "active"
    assert check(4)["found"] == 0  # still "watch" (one was off at minute 3)
    assert check(5)["checked_at"] == now[0] - 60  # all well: minute 5 asked nothing

    later = check(4 + int(CHECK_EVERY_SECONDS / 60))
    assert (later["reason"], later["checked_at"]) == ("interval", now[0])
    assert later["reenabled_at"] == 1_000_000.0 + 60 * 3  # the last switch is remembered
    services.close()


def test_a_check_the_shop_refuses_is_kept_and_tried_again_the_next_minute(
    tmp_path, fresh_sandbox, store_url
):
    services = sandbox_services(tmp_path, fresh_sandbox, public_url=DOWN, database_url=store_url)
    services.woocommerce.ensure_webhooks(webhook_url(DOWN), "secret", ["order.created"])
    services.queue.clock = lambda: 2_000_000.0
    fresh_sandbox.faults("woocommerce", error_rate=1.0, statuses=[401])

    state = run_health_check(services, probe=lambda url: True)
    assert state["error"] and state["ours"] is None  # no dead letter: the task itself succeeds

    fresh_sandbox.faults("woocommerce", error_rate=0.0)
    state = run_health_check(services, probe=lambda url: True)
    assert (state["reason"], state["error"], state["ours"]) == ("watch", None, 1)
    services.close()


def test_the_kept_result_fits_the_cursor_column_however_many_hooks_were_off(
    tmp_path, fresh_sandbox, store_url
):
    topics = [f"customer.restored.{n}" for n in range(12)]
    state = {
        "checked_at": 1_700_000_000,
        "reason": "reachable again",
        "reachable": False,
        "ours": 120,
        "found": 120,
        "error": "webhook 17 (order.created): " + "x" * 300,
        "reenabled": topics,
        "reenabled_at": 1_700_000_000,
    }
    services = sandbox_services(tmp_path, fresh_sandbox, database_url=store_url)
    _save(services.engine, state)  # save_cursor refuses more than VARCHAR(200) holds

    kept = health_status(services.engine)
    assert kept["reenabled"][0] == topics[0] and kept["reenabled"][-1].endswith(" more")
    assert kept["error"].startswith("webhook 17 (order.created): ")
    assert (kept["ours"], kept["reason"]) == (120, "reachable again")
    services.close()


def test_the_scheduler_runs_the_check_at_every_start_even_within_one_bucket(tmp_path):
    from tests.support import make_settings

    services = Services(
        make_settings(tmp_path, woocommerce_url="http://shop.invalid", public_url=DOWN)
    )
    build_scheduler(services)
    build_scheduler(services)  # a restart a few seconds later
    starts = [t for t in queued(services, "sync.webhook_health") if t["payload"].get("start")]
    assert len(starts) == 2
    assert {t["ordering_key"] for t in starts} == {"job:woocommerce-webhook-health"}
    services.close()
