"""Polls and full syncs started from the console, and their progress as the running task sees it.

`start_job` records a job (`sync_jobs`) with one row per stream (`sync_job_streams`, state
`waiting`) and enqueues, in the same transaction, one `sync.job_stream` task per stream. The
worker runs them like any task; each updates its stream's row as it goes (`running`, then the
pages, records read and enqueued after every committed page, then `done` or `failed`), so the
page reads progress from the store alone and a restart loses nothing.

A poll of a stream runs as the scheduled poll does (its job's options, such as the lookback)
and shares that job's ordering key, so the two never read one cursor at once. A full sync's
streams share one ordering key per system and so run one after another, in the declared order
(customers before the orders that refer to them), through `FullSync.run_stream`: resumable
from its checkpoint, or from the start with `restart`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select, update

from connector import keys
from connector.errors import ConnectorError
from connector.queue import UNFINISHED, describe
from connector.store import reading
from connector.store.tables import sync_job_streams, sync_jobs, tasks
from connector.sync.streams import Outcome, Page, run_stream

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext

log = logging.getLogger("connector.sync")

JOB_STREAM = "sync.job_stream"
POLL, FULL = "poll", "full"
WAITING, RUNNING, DONE, FAILED, SKIPPED = "waiting", "running", "done", "failed", "skipped"
FINISHED = (DONE, FAILED, SKIPPED)


class CannotSync(ConnectorError):
    """The system cannot be polled or synced (not configured, no streams, one already runs)."""


@dataclass(frozen=True)
class Planned:
    """One stream of a job: its task's options and ordering key."""

    stream: str
    options: dict[str, Any]
    ordering_key: str


@dataclass
class StreamProgress:
    stream: str
    state: str
    pages: int
    records: int
    total: int | None
    enqueued: int
    error: str | None
    started_at: float | None
    updated_at: float

    @property
    def fraction(self) -> float:
        """How far the stream is, 0..1 (a running stream without a known total: 0)."""
        if self.state in FINISHED:
            return 1.0
        if self.state == RUNNING and self.total:
            return min(1.0, self.records / self.total)
        return 0.0


@dataclass
class JobView:
    id: int
    system: str
    kind: str
    options: dict[str, Any]
    requested_by: str
    requested_at: float
    streams: list[StreamProgress] = field(default_factory=list)

    @property
    def state(self) -> str:
        """`queued` (no stream started), `running`, `done`, or `failed` (all finished, one
        or more failed)."""
        states = {s.state for s in self.streams}
        if states <= set(FINISHED):
            return FAILED if FAILED in states else DONE
        if states == {WAITING}:
            return "queued"
        return RUNNING

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED)

    @property
    def percent(self) -> int:
        if not self.streams:
            return 100
        return int(100 * sum(s.fraction for s in self.streams) / len(self.streams))

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    @property
    def enqueued(self) -> int:
        return sum(s.enqueued for s in self.streams)


# -- what can run -----------------------------------------------------------------------------


def poll_plan(services: Services, system: str) -> list[Planned]:
    """The streams a poll of `system` reads, with their scheduled job's options and ordering
    key (a stream whose job needs something not configured is left out, as the scheduler does)."""
    from connector.scheduler import active_jobs
    from connector.sync.polling import OPTIONS, polled_streams
    from jobs import all_jobs

    if not services.enabled(system):
        return []
    active = {job.name for job in active_jobs(services)}
    scheduled = {
        str(job.payload.get("stream")): job
        for job in all_jobs(services.systems)
        if job.kind == "sync.poll" and job.payload.get("system") == system
    }
    plan = []
    for found_system, stream in polled_streams(services):
        if found_system != system:
            continue
        job = scheduled.get(stream)
        if job is not None and job.name not in active:
            continue
        options = {k: v for k, v in (job.payload if job else {}).items() if k in OPTIONS}
        name = job.name if job else f"poll-{system}-{stream}"
        plan.append(Planned(stream, options, keys.job(name)))
    return plan


def full_plan(services: Services, system: str) -> list[Planned]:
    """The streams of `system`'s full sync, in order, on one ordering key."""
    from connector.sync.full import full_streams

    if not services.enabled(system):
        return []
    ordering = keys.job(f"full-sync-{system}")
    return [Planned(stream, {}, ordering) for stream in full_streams(services).get(system, ())]


def syncable(services: Services) -> list[tuple[str, bool, bool]]:
    """(system, can poll, can full sync) for every configured system that can do either."""
    from connector.sync.full import full_streams
    from connector.sync.polling import polled_streams

    polled = {s for s, _ in polled_streams(services)}
    full = set(full_streams(services))
    found = []
    for system in services.systems:
        name = system.name
        if (name in polled or name in full) and services.enabled(name):
            found.append((name, bool(poll_plan(services, name)), name in full))
    return found


# -- starting ---------------------------------------------------------------------------------


def start_job(
    services: Services,
    system: str,
    kind: str,
    by: str,
    restart: bool = False,
    on_started: Callable[[Connection, int], None] | None = None,
) -> int:
    """Records a poll or full sync of `system` and enqueues its tasks; returns the job's id.

    Raises `CannotSync` when the system has nothing to read, or when a job of the same kind
    for it has not finished yet (say which). `on_started(connection, job_id)` runs in the
    transaction that records the job (the console's audit line).
    """
    if kind not in (POLL, FULL):
        raise CannotSync(f"kind: {kind!r} is not poll or full")
    plan = poll_plan(services, system) if kind == POLL else full_plan(services, system)
    if not plan:
        what = "poll" if kind == POLL else "full sync"
        raise CannotSync(f"{system}: nothing to {what} (is it configured?)")
    running = unfinished_job(services.engine, system, kind)
    if running is not None:
        raise CannotSync(f"{system}: {kind} job {running} has not finished yet")
    now = services.queue.clock()
    options = {"restart": True} if restart and kind == FULL else {}
    with services.engine.begin() as connection:
        job_id = connection.execute(
            insert(sync_jobs)
            .values(system=system, kind=kind, options=options, requested_by=by, requested_at=now)
            .returning(sync_jobs.c.id)
        ).scalar_one()
        for position, planned in enumerate(plan):
            task_id = services.queue.enqueue(
                JOB_STREAM,
                {"job": int(job_id), "system": system, "kind": kind, "stream": planned.stream,
                 **planned.options, **options},
                ordering_key=planned.ordering_key,
                connection=connection,
            )  # fmt: skip
            connection.execute(
                insert(sync_job_streams).values(
                    job_id=job_id,
                    stream=planned.stream,
                    position=position,
                    task_id=task_id,
                    state=WAITING,
                    pages=0,
                    records=0,
                    enqueued=0,
                    updated_at=now,
                )
            )
        if on_started is not None:
            on_started(connection, int(job_id))
    log.info("%s of %s started by %s (job %s)", kind, system, by, job_id)
    return int(job_id)


def unfinished_job(engine: Engine, system: str, kind: str) -> int | None:
    """The newest job of `system` and `kind` that still has a stream to finish (its task still
    queued, waiting or running: a task discarded or lost does not hold up new jobs)."""
    with reading(engine) as connection:
        found = connection.scalar(
            select(sync_jobs.c.id)
            .join(sync_job_streams, sync_job_streams.c.job_id == sync_jobs.c.id)
            .join(tasks, tasks.c.id == sync_job_streams.c.task_id)
            .where(
                sync_jobs.c.system == system,
                sync_jobs.c.kind == kind,
                sync_job_streams.c.state.in_((WAITING, RUNNING)),
                tasks.c.state.in_(UNFINISHED),
            )
            .order_by(sync_jobs.c.id.desc())
            .limit(1)
        )
    return None if found is None else int(found)


# -- reading ----------------------------------------------------------------------------------


def job_view(engine: Engine, job_id: int) -> JobView | None:
    found = recent_jobs(engine, only=job_id)
    return found[0] if found else None


def recent_jobs(engine: Engine, limit: int = 20, only: int | None = None) -> list[JobView]:
    """The newest jobs with their streams, newest first."""
    query = select(sync_jobs).order_by(sync_jobs.c.id.desc()).limit(limit)
    if only is not None:
        query = query.where(sync_jobs.c.id == only)
    with reading(engine) as connection:
        jobs = [
            JobView(
                id=int(row.id),
                system=row.system,
                kind=row.kind,
                options=dict(row.options or {}),
                requested_by=row.requested_by,
                requested_at=float(row.requested_at),
            )
            for row in connection.execute(query)
        ]
        by_id = {job.id: job for job in jobs}
        if by_id:
            rows = connection.execute(
                select(sync_job_streams)
                .where(sync_job_streams.c.job_id.in_(list(by_id)))
                .order_by(sync_job_streams.c.job_id, sync_job_streams.c.position)
            ).all()
            task_states = _task_states(connection, [r.task_id for r in rows if r.task_id])
            for row in rows:
                state, error = row.state, row.error
                ended = task_states.get(row.task_id)
                if state in (WAITING, RUNNING) and ended is not None and ended not in UNFINISHED:
                    state, error = FAILED, f"its task {row.task_id} ended ({ended}) unreported"
                by_id[int(row.job_id)].streams.append(
                    StreamProgress(
                        stream=row.stream,
                        state=state,
                        pages=int(row.pages),
                        records=int(row.records),
                        total=None if row.total is None else int(row.total),
                        enqueued=int(row.enqueued),
                        error=error,
                        started_at=row.started_at,
                        updated_at=float(row.updated_at),
                    )
                )
    return jobs


def _task_states(connection: Connection, ids: list[int]) -> dict[int, str]:
    """The state of each task still in the store (a purged one is left out: it finished)."""
    if not ids:
        return {}
    found = connection.execute(select(tasks.c.id, tasks.c.state).where(tasks.c.id.in_(ids)))
    return {int(task_id): str(state) for task_id, state in found}


# -- the task ---------------------------------------------------------------------------------


class _Reporter:
    """Writes one stream's progress row; each write is its own short transaction."""

    def __init__(self, services: Services, job_id: int, stream: str) -> None:
        self.engine = services.engine
        self.clock = services.queue.clock
        self.where = (sync_job_streams.c.job_id == job_id) & (sync_job_streams.c.stream == stream)

    def set(self, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(sync_job_streams).where(self.where).values(updated_at=self.clock(), **values)
            )

    def on_page(self, outcome: Outcome, page: Page) -> None:
        values: dict[str, Any] = {
            "pages": outcome.pages,
            "records": outcome.read,
            "enqueued": outcome.enqueued,
        }
        if page.total is not None:
            values["total"] = page.total
        self.set(**values)


def job_stream(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `sync.job_stream` {job, system, kind, stream, restart?, lookback?, first_window?}:
    reads one stream of a console job, reporting progress in its row."""
    services = ctx.services
    system, stream, kind = str(payload["system"]), str(payload["stream"]), str(payload["kind"])
    reporter = _Reporter(services, int(payload["job"]), stream)
    reporter.set(
        state=RUNNING, started_at=services.queue.clock(), pages=0, records=0, enqueued=0, error=None
    )
    try:
        if not services.enabled(system):
            reporter.set(state=FAILED, error=f"{system} is not configured")
            return
        if kind == FULL:
            _full(services, system, stream, bool(payload.get("restart")), reporter)
        else:
            _poll(services, system, stream, payload, reporter)
    except Exception as error:  # the queue retries it; meanwhile the page says why
        reporter.set(state=FAILED, error=describe(error))
        raise


def _poll(
    services: Services, system: str, stream: str, payload: dict[str, Any], reporter: _Reporter
) -> None:
    from connector.sync.polling import OPTIONS, polled_stream

    options = {k: payload.get(k) for k in OPTIONS}
    outcome = run_stream(
        services.queue,
        polled_stream(services, system, stream, **options),
        on_page=reporter.on_page,
        capture_errors=True,
    )
    _finish(reporter, outcome)


def _full(services: Services, system: str, stream: str, restart: bool, reporter: _Reporter) -> None:
    from connector.sync.full import FullSync

    runner = FullSync(services, restart=restart, on_page=reporter.on_page)
    report = runner.run_stream(system, stream)
    if report.status == "already complete":
        reporter.set(state=SKIPPED)
        return
    _finish(reporter, report.outcome)


def _finish(reporter: _Reporter, outcome: Outcome) -> None:
    values: dict[str, Any] = {
        "pages": outcome.pages,
        "records": outcome.read,
        "enqueued": outcome.enqueued,
    }
    if outcome.failed_pages:
        reporter.set(state=FAILED, error=outcome.error, **values)
    else:
        reporter.set(state=DONE, **values)
