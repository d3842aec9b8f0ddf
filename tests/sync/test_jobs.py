"""The scheduled polls: a job only enqueues its bucket's `sync.poll` task; the task polls."""

from __future__ import annotations

from connector.sync.polling import poll
from connector.tasks import TaskContext
from jobs import all_jobs, enqueue_job
from tests.sync.conftest import queued
from tests.sync.test_woocommerce_polling import create_orders, minutes_ago

JOBS = all_jobs()  # the jobs of every system (their declarations)


def test_every_sync_job_is_scheduled_and_enqueues_once_per_bucket(services):
    polls = {"poll-woocommerce-orders", "reconcile-bitrix24-deals", "read-bitrix24-offline-events"}
    assert polls <= {job.name for job in JOBS}
    job = next(j for j in JOBS if j.name == "poll-woocommerce-orders")
    assert enqueue_job(services.queue, job, now=1000.0) is not None
    assert enqueue_job(services.queue, job, now=1001.0) is None  # same bucket: a no-op
    [task] = queued(services)
    assert task["kind"] == "sync.poll"
    assert task["payload"]["system"] == "woocommerce" and task["payload"]["stream"] == "orders"
    assert task["dedupe_key"] == "job:poll-woocommerce-orders:3"


def test_the_poll_task_reads_the_shop_and_enqueues_its_orders(shop_services):
    [order_id] = create_orders(shop_services.woocommerce, 1, minutes_ago(1))
    job = next(j for j in JOBS if j.name == "poll-woocommerce-orders")
    enqueue_job(shop_services.queue, job)
    [poll_task] = shop_services.queue.claim("test", limit=1)
    poll(TaskContext(poll_task, shop_services), poll_task.payload)
    [order_task] = queued(shop_services, "woocommerce.order")
    assert order_task["payload"]["id"] == order_id


def test_a_poll_of_a_system_that_is_not_configured_does_nothing(services):
    job = next(j for j in JOBS if j.name == "reconcile-bitrix24-deals")
    enqueue_job(services.queue, job)
    [poll_task] = services.queue.claim("test", limit=1)
    poll(TaskContext(poll_task, services), poll_task.payload)
    assert [t["kind"] for t in queued(services)] == ["sync.poll"]
