"""System health signals, read only: what the console's overview and the alerts both show.

Everything here reads the store (never a remote system) and is built to stay fast on a big one:

- **Each system** (`systems_health`): configured or not; its last successful call (the newest
  finished task of its task kinds or of its scheduled jobs); its last error and when (the newest
  `task_errors` row of those tasks); failing since when (its errors with no success since); the
  health of its webhooks (the last check `sync.webhook_health` kept, e.g. a WooCommerce webhook
  the shop disabled); the lag of each polled stream (seconds since the stream was last read).
- **The queue** (`queue_depth`, `throughput`, `dead_letters`): unfinished tasks and dead letters
  by kind and state, how late the oldest runnable task is, what finished and failed in the last
  hour, the dead letters' count and the newest one.
- **Refused webhooks** (`refused_webhooks`): deliveries answered 401 (bad signature, token or URL
  secret) per source in a recent window, from the `webhook_refusals` counts that
  `connector.alerts.refusals.RefusalCounter` writes.

How it stays fast (bench/observe.py, 1,000,000 finished tasks): a task kind's last success and
its last hour are a few entries of the index `(state, kind, finished_at)`, a job's last run one
entry of `(ordering_key, state, id)`, the newest errors a walk back along `task_errors` ids that
stops once each system's errors reach its last success (at most `ERRORS_READ` rows), and the
unfinished and dead tasks are counted through `(state, id)`. Finished tasks are never scanned.

Texts that come from remote systems (error messages) are masked: phones, emails and secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text

from connector import keys
from connector.logs import mask
from connector.store import reading
from connector.store.tables import cursors, task_errors, tasks, webhook_refusals

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.registry import System

QUEUED, WAITING, RUNNING, DONE, DEAD = "queued", "waiting", "running", "done", "dead"
UNFINISHED = (QUEUED, WAITING, RUNNING)
WINDOW_SECONDS = 3600.0  # throughput and failures: the last hour
REFUSALS_WINDOW_SECONDS = 300.0  # refused webhooks: the last five minutes
ERRORS_READ = 2000  # the newest task errors read to find each system's last error
ERROR_LENGTH = 300  # an error message shown is cut to this many characters
HEALTH_STREAM = "webhook_health"  # the cursor row where a system's webhook check is kept
# Errors that say "wait", not "broken": a remote's rate limit is no failure of the system.
NOT_FAILURES = ("RateLimited",)


# -- what the functions answer ----------------------------------------------------------------


@dataclass(frozen=True)
class WebhookHealth:
    """The last check of a system's webhooks at the system (`sync.webhook_health`)."""

    checked_at: float | None
    reason: str | None
    ours: int | None  # webhooks pointing at us
    disabled: int  # found disabled by the system at that check (then switched back on)
    reenabled: tuple[str, ...]  # topics switched back on at the last check that found any
    reenabled_at: float | None
    error: str | None  # the check or a re-activation failed
    reachable: bool | None  # our public URL answered /healthz from here

    @property
    def healthy(self) -> bool:
        return not self.disabled and not self.error and self.reachable is not False


@dataclass(frozen=True)
class StreamLag:
    """One polled stream: when it was last read, and how long ago that is."""

    system: str
    stream: str
    last_poll_at: float | None  # the newest finished poll task of its job
    cursor_saved_at: float | None  # the newest bookmark saved
    lag_seconds: float | None  # since the later of the two; None when never read


@dataclass(frozen=True)
class SystemHealth:
    name: str
    title: str
    configured: bool
    last_ok_at: float | None  # the newest finished task of its kinds or jobs
    last_error_at: float | None
    last_error: str | None  # "ErrorType: message", masked and cut
    last_error_kind: str | None
    failing_since: float | None  # its oldest error with no success since; None when fine
    webhooks: WebhookHealth | None
    streams: tuple[StreamLag, ...] = ()

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failing_for(self, now: float) -> float:
        """Seconds it has been failing (0 when it is not)."""
        return 0.0 if self.failing_since is None else max(0.0, now - self.failing_since)


@dataclass(frozen=True)
class KindCount:
    kind: str
    state: str
    count: int


@dataclass(frozen=True)
class QueueDepth:
    """Unfinished tasks and dead letters by kind and state (finished ones are not counted)."""

    by_kind: tuple[KindCount, ...]
    by_state: Mapping[str, int]
    # seconds the oldest runnable task (queued, due) has waited past its time: the queue's lag
    lag_seconds: float
    oldest_due_kind: str | None


@dataclass(frozen=True)
class KindFigures:
    kind: str
    done: int
    failed: int  # failed attempts (each is a `task_errors` row)
    died: int  # tasks that became dead letters


@dataclass(frozen=True)
class Throughput:
    """What the queue did in the last `window_seconds`."""

    window_seconds: float
    done: int
    failed: int
    died: int
    by_kind: tuple[KindFigures, ...]


@dataclass(frozen=True)
class DeadLetters:
    count: int
    newest_id: int | None
    newest_kind: str | None
    newest_at: float | None
    newest_error: str | None  # masked and cut


@dataclass(frozen=True)
class Refusals:
    """Webhook deliveries refused as unauthentic (401) per source in the last window."""

    window_seconds: float
    by_source: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass(frozen=True)
class Overview:
    """Everything the console's overview shows, read at `at`."""

    at: float
    systems: tuple[SystemHealth, ...]
    queue: QueueDepth
    throughput: Throughput
    dead_letters: DeadLetters
    refusals: Refusals


# -- public functions: each opens one read-only connection --------------------------------------


def overview(services: Services, now: float | None = None) -> Overview:
    """Every signal at once, on one read-only connection."""
    now = services.queue.clock() if now is None else now
    secrets = services.settings.secrets()
    since = now - WINDOW_SECONDS
    with reading(services.engine) as connection:
        by_kind = _by_kind(connection, _all_kinds(services), since)
        queue = _queue_depth(connection, now)
        return Overview(
            at=now,
            systems=_systems_health(connection, services, by_kind, now, secrets),
            queue=queue,
            throughput=_throughput(connection, by_kind, since, WINDOW_SECONDS),
            dead_letters=_dead_letters(connection, secrets, queue.by_state[DEAD]),
            refusals=_refusals(connection, now, REFUSALS_WINDOW_SECONDS),
        )


def systems_health(services: Services, now: float | None = None) -> tuple[SystemHealth, ...]:
    """Each system the registry knows, in its order (configured or not)."""
    now = services.queue.clock() if now is None else now
    with reading(services.engine) as connection:
        by_kind = _by_kind(connection, _all_kinds(services), now - WINDOW_SECONDS)
        return _systems_health(connection, services, by_kind, now, services.settings.secrets())


def queue_depth(services: Services, now: float | None = None) -> QueueDepth:
    now = services.queue.clock() if now is None else now
    with reading(services.engine) as connection:
        return _queue_depth(connection, now)


def throughput(
    services: Services, now: float | None = None, window_seconds: float = WINDOW_SECONDS
) -> Throughput:
    now = services.queue.clock() if now is None else now
    since = now - window_seconds
    with reading(services.engine) as connection:
        by_kind = _by_kind(connection, _all_kinds(services), since)
        return _throughput(connection, by_kind, since, window_seconds)


def dead_letters(services: Services) -> DeadLetters:
    with reading(services.engine) as connection:
        return _dead_letters(connection, services.settings.secrets())


def dead_letters_since(services: Services, since: float, until: float) -> tuple[int, list[str]]:
    """How many tasks became dead letters in (since, until], and their kinds (most first)."""
    with reading(services.engine) as connection:
        rows = connection.execute(
            select(tasks.c.kind, func.count())
            .where(tasks.c.state == DEAD, tasks.c.finished_at > since, tasks.c.finished_at <= until)
            .group_by(tasks.c.kind)
            .order_by(func.count().desc())
        ).all()
    return sum(count for _, count in rows), [kind for kind, _ in rows]


def refused_webhooks(
    services: Services, now: float | None = None, window_seconds: float = REFUSALS_WINDOW_SECONDS
) -> Refusals:
    now = services.queue.clock() if now is None else now
    with reading(services.engine) as connection:
        return _refusals(connection, now, window_seconds)


# -- each system --------------------------------------------------------------------------------


def system_kinds(system: System, known_kinds: Iterable[str]) -> frozenset[str]:
    """The task kinds that are this system's: its handlers and pushes, and every kind that has
    the system's name as one of its words (`push.bitrix24.deal`, `delivery.poll_cdek`)."""
    own = set(system.task_handlers) | set(system.push_kinds())
    own.update(kind for kind in known_kinds if system.name in re.split(r"[._]", kind))
    return frozenset(own)


def _all_kinds(services: Services) -> list[str]:
    """Every task kind the connector runs, and those the systems declare."""
    known = set(services.registry.kinds())
    for system in services.systems:
        known.update(system_kinds(system, ()))
    return sorted(known)


def _system_jobs(system: System) -> list[Any]:
    try:
        return system.job_list()
    except Exception:  # noqa: BLE001 - a broken declaration must not hide the other systems
        return []


def _systems_health(
    connection: Connection,
    services: Services,
    by_kind: Mapping[str, _KindRow],
    now: float,
    secrets: Sequence[str],
) -> tuple[SystemHealth, ...]:
    systems = list(services.systems)
    kinds_of = {system.name: system_kinds(system, by_kind) for system in systems}
    jobs_of = {system.name: _system_jobs(system) for system in systems}
    job_keys_of = {name: {keys.job(job.name) for job in jobs} for name, jobs in jobs_of.items()}

    last_job = _last_done_by_ordering_key(connection, sorted(set().union(*job_keys_of.values())))
    last_ok: dict[str, float | None] = {}
    for system in systems:
        times = [by_kind[kind].last_done_at for kind in kinds_of[system.name] if kind in by_kind]
        times += [last_job.get(key) for key in job_keys_of[system.name]]
        last_ok[system.name] = max((t for t in times if t is not None), default=None)

    owner_of_kind = {kind: name for name, kinds in kinds_of.items() for kind in kinds}
    owner_of_key = {key: name for name, job_keys in job_keys_of.items() for key in job_keys}
    errors = _newest_errors(connection, last_ok, owner_of_kind, owner_of_key)
    cursor_rows = {
        (row.system, row.stream): row for row in connection.execute(select(cursors)).all()
    }

    found = []
    for system in systems:
        error = errors.get(system.name)
        health = cursor_rows.get((system.name, HEALTH_STREAM))
        streams = []
        for job in jobs_of[system.name]:
            stream = job.payload.get("stream") if job.kind == "sync.poll" else None
            if not stream:
                continue
            row = cursor_rows.get((system.name, str(stream)))
            polled = last_job.get(keys.job(job.name))
            saved = float(row.updated_at) if row is not None else None
            latest = max((t for t in (polled, saved) if t is not None), default=None)
            streams.append(
                StreamLag(
                    system=system.name,
                    stream=str(stream),
                    last_poll_at=polled,
                    cursor_saved_at=saved,
                    lag_seconds=None if latest is None else max(0.0, now - latest),
                )
            )
        found.append(
            SystemHealth(
                name=system.name,
                title=system.title or system.name,
                configured=system.is_configured(services.settings),
                last_ok_at=last_ok[system.name],
                last_error_at=error.newest_at if error else None,
                last_error=_shown(error.message, secrets) if error else None,
                last_error_kind=error.kind if error else None,
                failing_since=error.failing_since if error else None,
                webhooks=_webhook_health(health.value) if health is not None else None,
                streams=tuple(streams),
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class _KindRow:
    last_done_at: float | None
    done: int  # finished since the window's start
    died: int


def _values(prefix: str, names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """`VALUES (:p0), (:p1), ...` and its parameters: a list to join one subquery per name to."""
    params = {f"{prefix}{n}": name for n, name in enumerate(names)}
    return ", ".join(f"(:{name})" for name in params), params


def _by_kind(connection: Connection, kinds: Sequence[str], since: float) -> dict[str, _KindRow]:
    """Each kind's newest success and what finished and died since `since`: three seeks of
    `(state, kind, finished_at)` per kind, in one statement (built as text: SQLAlchemy's own
    building of a hundred subqueries costs more than SQLite takes to run them)."""
    if not kinds:
        return {}
    values, params = _values("k", kinds)
    rows = connection.execute(
        text(
            f"WITH k(kind) AS (VALUES {values}) SELECT k.kind,"
            " (SELECT max(finished_at) FROM tasks WHERE state = 'done' AND kind = k.kind),"
            " (SELECT count(*) FROM tasks"
            "  WHERE state = 'done' AND kind = k.kind AND finished_at > :since),"
            " (SELECT count(*) FROM tasks"
            "  WHERE state = 'dead' AND kind = k.kind AND finished_at > :since)"
            " FROM k"
        ),
        {**params, "since": since},
    ).all()
    return {
        kind: _KindRow(_number(last), int(done or 0), int(died or 0))
        for kind, last, done, died in rows
    }


def _last_done_by_ordering_key(connection: Connection, names: Sequence[str]) -> dict[str, float]:
    """The finish of the newest done task of each ordering key (a job's runs share one)."""
    if not names:
        return {}
    values, params = _values("j", names)
    rows = connection.execute(
        text(
            f"WITH j(name) AS (VALUES {values}) SELECT j.name,"
            " (SELECT finished_at FROM tasks WHERE ordering_key = j.name AND state = 'done'"
            "  ORDER BY id DESC LIMIT 1)"
            " FROM j"
        ),
        params,
    ).all()
    return {name: float(value) for name, value in rows if value is not None}


@dataclass
class _Errors:
    newest_id: int
    newest_at: float
    kind: str
    message: str = ""
    failing_since: float | None = None


def _newest_errors(
    connection: Connection,
    last_ok: Mapping[str, float | None],
    owner_of_kind: Mapping[str, str],
    owner_of_key: Mapping[str, str],
) -> dict[str, _Errors]:
    """Walks back from the newest task error (at most ERRORS_READ rows) and keeps, per system,
    the newest error and the oldest one still newer than its last success; then reads the
    messages of the newest ones only."""
    found: dict[str, _Errors] = {}
    rows = connection.execute(
        select(task_errors.c.id, task_errors.c.failed_at, tasks.c.kind, tasks.c.ordering_key)
        .join(tasks, tasks.c.id == task_errors.c.task_id)
        .where(task_errors.c.error_type.not_in(NOT_FAILURES))
        .order_by(task_errors.c.id.desc())
        .limit(ERRORS_READ)
    ).all()
    pending = set(last_ok)
    for error_id, failed_at, kind, ordering_key in rows:
        owner = owner_of_kind.get(kind) or owner_of_key.get(ordering_key or "")
        if owner is None or owner not in pending:
            continue
        ok = last_ok.get(owner)
        seen = found.get(owner)
        if seen is None:
            seen = found[owner] = _Errors(int(error_id), float(failed_at), kind)
        if ok is not None and failed_at <= ok:
            pending.discard(owner)  # older errors were followed by a success
            if not pending:
                break
            continue
        seen.failing_since = float(failed_at)
    if found:
        by_id = {seen.newest_id: seen for seen in found.values()}
        for error_id, error_type, message in connection.execute(
            select(task_errors.c.id, task_errors.c.error_type, task_errors.c.message).where(
                task_errors.c.id.in_(sorted(by_id))
            )
        ):
            shown = message if message.startswith(error_type) else f"{error_type}: {message}"
            by_id[error_id].message = shown
    return found


def _webhook_health(value: str) -> WebhookHealth | None:
    """The check kept by `connector.sync.webhook_health` (short keys, see SHORT_KEYS there)."""
    try:
        state = json.loads(value)
    except ValueError:
        return None
    if not isinstance(state, dict):
        return None
    reenabled = state.get("on") or []
    return WebhookHealth(
        checked_at=_number(state.get("at")),
        reason=_text(state.get("why")),
        ours=int(state["ours"]) if isinstance(state.get("ours"), int) else None,
        disabled=int(state.get("off") or 0),
        reenabled=tuple(str(topic) for topic in reenabled) if isinstance(reenabled, list) else (),
        reenabled_at=_number(state.get("on_at")),
        error=_text(state.get("err")),
        reachable=state.get("up") if isinstance(state.get("up"), bool) else None,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _shown(text: str | None, secrets: Sequence[str]) -> str | None:
    if text is None:
        return None
    text = mask(text, secrets)
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 3] + "..."


# -- the queue ----------------------------------------------------------------------------------


def _queue_depth(connection: Connection, now: float) -> QueueDepth:
    rows = connection.execute(
        select(tasks.c.kind, tasks.c.state, func.count())
        .where(tasks.c.state.in_((*UNFINISHED, DEAD)))
        .group_by(tasks.c.kind, tasks.c.state)
        .order_by(tasks.c.kind, tasks.c.state)
    ).all()
    by_state = {state: 0 for state in (*UNFINISHED, DEAD)}
    for _, state, count in rows:
        by_state[state] += count
    oldest = connection.execute(
        select(tasks.c.run_at, tasks.c.kind)
        .where(tasks.c.state == QUEUED, tasks.c.run_at <= now)
        .order_by(tasks.c.run_at)
        .limit(1)
    ).first()
    return QueueDepth(
        by_kind=tuple(KindCount(kind, state, count) for kind, state, count in rows),
        by_state=by_state,
        lag_seconds=max(0.0, now - float(oldest.run_at)) if oldest is not None else 0.0,
        oldest_due_kind=oldest.kind if oldest is not None else None,
    )


def _throughput(
    connection: Connection, by_kind: Mapping[str, _KindRow], since: float, window_seconds: float
) -> Throughput:
    figures = {
        kind: {"done": row.done, "died": row.died, "failed": 0}
        for kind, row in by_kind.items()
        if row.done or row.died
    }
    failures = connection.execute(
        select(tasks.c.kind, func.count())
        .select_from(task_errors.join(tasks, tasks.c.id == task_errors.c.task_id))
        .where(task_errors.c.failed_at > since, task_errors.c.error_type.not_in(NOT_FAILURES))
        .group_by(tasks.c.kind)
    ).all()
    for kind, count in failures:
        figures.setdefault(kind, {"done": 0, "died": 0, "failed": 0})["failed"] = int(count)
    rows = tuple(
        KindFigures(kind, numbers["done"], numbers["failed"], numbers["died"])
        for kind, numbers in sorted(figures.items())
    )
    return Throughput(
        window_seconds=window_seconds,
        done=sum(f.done for f in rows),
        failed=sum(f.failed for f in rows),
        died=sum(f.died for f in rows),
        by_kind=rows,
    )


def _dead_letters(
    connection: Connection, secrets: Sequence[str], count: int | None = None
) -> DeadLetters:
    if count is None:
        count = connection.scalar(
            select(func.count()).select_from(tasks).where(tasks.c.state == DEAD)
        )
    newest = connection.execute(
        select(tasks.c.id, tasks.c.kind, tasks.c.finished_at, tasks.c.last_error)
        .where(tasks.c.state == DEAD)
        .order_by(tasks.c.id.desc())
        .limit(1)
    ).first()
    return DeadLetters(
        count=int(count or 0),
        newest_id=int(newest.id) if newest is not None else None,
        newest_kind=newest.kind if newest is not None else None,
        newest_at=_number(newest.finished_at) if newest is not None else None,
        newest_error=_shown(newest.last_error, secrets) if newest is not None else None,
    )


# -- refused webhooks ---------------------------------------------------------------------------


def _refusals(connection: Connection, now: float, window_seconds: float) -> Refusals:
    first_minute = int((now - window_seconds) // 60) + 1  # whole minutes inside the window
    rows = connection.execute(
        select(webhook_refusals.c.source, func.sum(webhook_refusals.c.count))
        .where(webhook_refusals.c.minute >= first_minute)
        .group_by(webhook_refusals.c.source)
    ).all()
    return Refusals(
        window_seconds=window_seconds,
        by_source={source: int(total) for source, total in rows if total},
    )


__all__ = [
    "DeadLetters",
    "KindCount",
    "KindFigures",
    "Overview",
    "QueueDepth",
    "Refusals",
    "StreamLag",
    "SystemHealth",
    "Throughput",
    "WebhookHealth",
    "dead_letters",
    "dead_letters_since",
    "overview",
    "queue_depth",
    "refused_webhooks",
    "system_kinds",
    "systems_health",
    "throughput",
]
