"""The scheduler: APScheduler fires each job of `jobs/`; a job only enqueues its bucket's task."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector import keys
from connector.services import Services
from connector.systems.registry import resolve
from jobs import Job, all_jobs, enqueue_job

log = logging.getLogger("connector.scheduler")


def active_jobs(services: Services) -> list[Job]:
    """Jobs whose systems are configured; the others would only fail."""

    def configured(need: str) -> bool:
        if hasattr(services.settings, need):
            return bool(getattr(services.settings, need))
        return services.enabled(need)

    found = all_jobs(services.systems)
    return [job for job in found if all(configured(need) for need in job.needs)]


def fire(services: Services, job: Job) -> None:
    if job.run is not None:  # runs here, in the scheduler's thread (jobs/alerts.py)
        resolve(job.run)(services)
        return
    task_id = enqueue_job(services.queue, job)
    if task_id is not None:
        log.info("job %s enqueued task %s", job.name, task_id)


def fire_at_start(services: Services, job: Job) -> int | None:
    """Enqueues a start run of `job` ({"start": true}), unkeyed by bucket: a restart within a
    bucket that already ran still gets its run."""
    task_id = services.queue.enqueue(
        job.kind,
        {**job.payload, "start": True},
        ordering_key=keys.job(job.name),
        priority=job.priority,
    )
    log.info("job %s enqueued task %s at start", job.name, task_id)
    return task_id


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A scheduler with one interval trigger per active job; each also fires once at start
    (a job marked `at_start` even when its current bucket already ran)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in active_jobs(services):
        scheduler.add_job(
            fire,
            IntervalTrigger(seconds=job.every_seconds),
            args=(services, job),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(job.every_seconds),
        )
        if job.run is not None:
            scheduler.modify_job(job.name, next_run_time=datetime.now(UTC))  # soon, not here
        elif job.at_start:
            fire_at_start(services, job)
        else:
            fire(services, job)
    return scheduler
