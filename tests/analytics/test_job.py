"""The nightly job: scheduled once a day, its task recomputes everyone through the worker."""

from __future__ import annotations

from sqlalchemy import select

from connector.store.tables import analytics_runs
from connector.worker import Worker
from jobs import all_jobs, enqueue_job


def test_the_nightly_job_enqueues_once_a_day_and_its_task_recomputes_everyone(
    services, shop, clock
):
    shop.order("A-1", "10.00", email="ann@example.com", days_ago=50)
    [job] = [j for j in all_jobs() if j.kind == "analytics.recompute"]
    assert job.every_seconds == 86400

    assert enqueue_job(services.queue, job, now=clock()) is not None
    assert enqueue_job(services.queue, job, now=clock() + 60) is None  # the same night
    Worker(services, threads=1, name="test").run_until_idle(timeout=30)

    with services.engine.connect() as connection:
        runs = connection.execute(select(analytics_runs.c.customers, analytics_runs.c.finished_at))
        assert [(customers, finished is not None) for customers, finished in runs] == [(1, True)]
