"""Periodic jobs. A job only enqueues a task, keyed by its time bucket, so that two schedulers
running at once never double the work: the second enqueue of a bucket is a no-op."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connector import keys
from connector.queue import Queue


@dataclass(frozen=True)
class Job:
    """Every `every_seconds`, enqueue task `kind` with `payload` (once per time bucket)."""

    name: str
    kind: str
    every_seconds: float
    payload: dict[str, Any] = field(default_factory=dict)
    # What must be configured for the job to make sense: a system name (`bitrix24`: connected
    # by inbound webhook or app) or a setting name (`bitrix24_client_id`).
    needs: tuple[str, ...] = ()
    # Also run once whenever a scheduler starts, whatever its time bucket already ran (the
    # task gets `"start": true`): for checks that matter most after the connector was down.
    at_start: bool = False
    # Its task's queue priority (connector.queue: LIVE, POLL, BULK); None: POLL.
    priority: int | None = None
    # "module:function" of f(services) the scheduler calls itself instead of enqueueing a task
    # (the alert evaluation: it must not wait in the queue it watches); `kind` only names it.
    run: str | None = None

    def bucket(self, now: float) -> int:
        return math.floor(now / self.every_seconds)

    def dedupe_key(self, now: float) -> str:
        return keys.job_bucket(self.name, self.bucket(now))


def enqueue_job(queue: Queue, job: Job, now: float | None = None) -> int | None:
    """Enqueues this bucket's task; None when another scheduler already did."""
    now = queue.clock() if now is None else now
    payload = {**job.payload, "bucket": job.bucket(now), "bucket_seconds": job.every_seconds}
    return queue.enqueue(
        job.kind,
        payload,
        dedupe_key=job.dedupe_key(now),
        ordering_key=keys.job(job.name),
        priority=job.priority,
    )


def all_jobs(systems: Iterable[Any] | None = None) -> list[Job]:
    """Every job the scheduler runs: those of the modules of this package, then those each
    system declares (`jobs` in connector/systems/<name>/system.py)."""
    from connector.systems.registry import Registry
    from jobs import maintenance

    found: list[Job] = list(maintenance.JOBS)
    for module_name in ("loyalty", "analytics", "alerts", "catalogue"):
        try:
            module = __import__(f"jobs.{module_name}", fromlist=["JOBS"])
        except ImportError:
            continue
        found.extend(module.JOBS)
    for system in systems if systems is not None else Registry.discover():
        found.extend(system.job_list())
    return found
