"""The scheduler: APScheduler fires each job of `jobs/`; a job only enqueues its bucket's task."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connector.services import Services
from jobs import Job, all_jobs, enqueue_job

log = logging.getLogger("connector.scheduler")


def active_jobs(services: Services) -> list[Job]:
    """Jobs whose systems are configured; the others would only fail."""

    def configured(need: str) -> bool:
        if hasattr(services.settings, need):
            return bool(getattr(services.settings, need))
        return services.enabled(need)

    return [job for job in all_jobs() if all(configured(need) for need in job.needs)]


def fire(services: Services, job: Job) -> None:
    task_id = enqueue_job(services.queue, job)
    if task_id is not None:
        log.info("job %s enqueued task %s", job.name, task_id)


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A scheduler with one interval trigger per active job; each also fires once at start."""
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
        fire(services, job)
    return scheduler
