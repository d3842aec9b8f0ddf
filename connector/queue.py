"""The durable task queue: enqueue, claim with a lease, retry with backoff, dead letters.

Tasks live in the store, so they survive restarts. A unique dedupe key makes a second enqueue a
no-op. A claimed task carries a lease, which its worker renews (`renew`) for as long as it holds
the task, running or claimed ahead for a free thread: a task may run for longer than the lease,
and a task whose worker died is claimed again once its lease runs out, one lease after the
worker's last renewal. A renewal never takes back a task another worker has claimed since, and
a late completion by a worker that lost its lease is ignored. Tasks sharing an ordering key run
one at a time in enqueue order: only the oldest unfinished task of a key is `queued`; the ones
behind it are `waiting` and are promoted, one by one, when the one ahead finishes or dies.
Claims therefore never look at blocked tasks.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from connector.config import Settings
from connector.errors import ConnectorError, PermanentError, RateLimited, Wait
from connector.store import reading, take_turns
from connector.store.raw import RawSQL, as_json, in_list, insert_each, select_column
from connector.store.tables import task_errors, tasks

QUEUED, WAITING, RUNNING = "queued", "waiting", "running"
DONE, DEAD, DISCARDED = "done", "dead", "discarded"
UNFINISHED = (QUEUED, WAITING, RUNNING)

# Run for every enqueued task, webhooks included: plain SQL (see `connector.store.raw`).
_INSERT_TASK = RawSQL(
    "INSERT INTO tasks (kind, payload, state, dedupe_key, ordering_key, run_at, enqueued_at,"
    " attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)
_BUSY_KEYS = (
    "SELECT DISTINCT ordering_key FROM tasks"
    f" WHERE state IN ({', '.join(repr(state) for state in UNFINISHED)})"
    " AND ordering_key IN ({keys})"
)


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed task runs again: exponential backoff with jitter, then a dead letter."""

    max_attempts: int = 8
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    lease_seconds: float = 15.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before attempt `attempt + 1`: half fixed, half random ("equal jitter")."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + rng() * ceiling / 2

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.queue_max_attempts,
            backoff_base=settings.queue_backoff_base,
            backoff_max=settings.queue_backoff_max,
            lease_seconds=settings.queue_lease_seconds,
        )


@dataclass(frozen=True)
class Task:
    """A claimed task as its handler sees it."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    ordering_key: str | None
    enqueued_at: float
    started_at: float


@dataclass(frozen=True)
class QueueStats:
    queued: int
    waiting: int
    running: int
    dead: int
    done: int
    oldest_queued_age: float | None


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Queue:
    """The queue's operations on one store; safe to share between threads and processes."""

    def __init__(
        self,
        engine: Engine,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self.clock = clock

    # -- producing -------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        run_at: float | None = None,
        ordering_key: str | None = None,
        connection: Connection | None = None,
    ) -> int | None:
        """Adds a task; returns its id, or None when `dedupe_key` was already used.

        Pass `connection` to enqueue inside the caller's transaction (store + enqueue atomically).
        """
        ids = self.enqueue_many(kind, [(payload, dedupe_key, ordering_key)], run_at, connection)
        return ids[0] if ids else None

    def enqueue_many(
        self,
        kind: str,
        items: Sequence[tuple[dict[str, Any], str | None, str | None]],
        run_at: float | None = None,
        connection: Connection | None = None,
    ) -> list[int]:
        """Adds tasks of one kind in one write, each given as (payload, dedupe_key, ordering_key).

        Producers that find work in pages (polling, full sync) use it directly. Returns the ids
        of the tasks that were new. A keyed task is `queued` only when nothing of its key is
        unfinished; otherwise it waits its turn.
        """
        if not items:
            return []
        if connection is None:
            with self.engine.begin() as own:
                return self.enqueue_many(kind, items, run_at, own)
        now = self.clock()
        wanted_keys = {key for _, _, key in items if key}
        take_turns(connection, [f"queue:{key}" for key in wanted_keys])  # see _promote_next
        free_keys = self._free_keys(connection, wanted_keys)
        rows, keys = [], []
        for payload, dedupe_key, ordering_key in items:
            ahead = ordering_key is not None and ordering_key not in free_keys
            free_keys.discard(ordering_key)
            keys.append(ordering_key)
            state = WAITING if ahead else QUEUED
            when = now if run_at is None else run_at
            rows.append((kind, as_json(payload), state, dedupe_key, ordering_key, when, now))
        ids = [int(i) for i in insert_each(connection, _INSERT_TASK, rows) if i is not None]
        if len(ids) < len(rows):  # a deduplicated head may have left its key without one
            self._promote(connection, set(keys))
        return ids

    def _free_keys(self, connection: Connection, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        ordered = sorted(keys)
        sql = _BUSY_KEYS.format(keys=in_list(len(ordered)))
        return keys - set(select_column(connection, sql, ordered))

    def _promote(self, connection: Connection, keys: set[str | None]) -> int:
        """Makes the oldest waiting task of each given key queued, unless one of the key is
        already queued or running."""
        promoted = 0
        for key in sorted(k for k in keys if k):
            of_key = tasks.alias("of_key")
            oldest_waiting = (
                select(func.min(of_key.c.id))
                .where(of_key.c.ordering_key == key, of_key.c.state == WAITING)
                .scalar_subquery()
            )
            busy = exists().where(
                of_key.c.ordering_key == key, of_key.c.state.in_((QUEUED, RUNNING))
            )
            result = connection.execute(
                update(tasks).where(tasks.c.id == oldest_waiting, ~busy).values(state=QUEUED)
            )
            promoted += result.rowcount
        return promoted

    def _promote_next(self, connection: Connection, finished_ids: list[int]) -> None:
        """Lets the oldest waiting task of each finished task's key go.

        A finished task was its key's only queued or running task, so no check is needed. On
        PostgreSQL the finishing transaction holds its keys' turns from its start (see
        `_finish_turns`), as `enqueue_many` does: a task enqueued as waiting behind one that
        is finishing right then is always seen and promoted, never left an orphan.
        """
        finished = tasks.alias("finished")
        waiting = tasks.alias("waiting")
        next_of_key = (
            select(func.min(waiting.c.id))
            .where(waiting.c.ordering_key == finished.c.ordering_key, waiting.c.state == WAITING)
            .scalar_subquery()
        )
        heads = select(next_of_key).where(
            finished.c.id.in_(finished_ids), finished.c.ordering_key.is_not(None)
        )
        connection.execute(
            update(tasks).where(tasks.c.id.in_(heads.scalar_subquery())).values(state=QUEUED)
        )

    def promote_orphans(self) -> int:
        """Promotes waiting tasks with nobody ahead of them: the safety net for a promotion lost
        to a race between concurrent transactions (possible on PostgreSQL, not on SQLite)."""
        with self.engine.begin() as connection:
            stuck = connection.scalars(
                select(tasks.c.ordering_key).where(tasks.c.state == WAITING).distinct()
            )
            return self._promote(connection, set(stuck))

    # -- consuming -------------------------------------------------------------------------

    def claim(self, worker: str, limit: int = 1) -> list[Task]:
        """Takes up to `limit` due tasks, oldest first, and tasks whose lease ran out."""
        now = self.clock()
        due = or_(
            and_(tasks.c.state == QUEUED, tasks.c.run_at <= now),
            and_(tasks.c.state == RUNNING, tasks.c.lease_until < now),
        )
        candidates = select(tasks.c.id).where(due).order_by(tasks.c.id).limit(limit)
        if self.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(tasks)
            .where(tasks.c.id.in_(candidates.scalar_subquery()))
            .values(
                state=RUNNING,
                attempts=tasks.c.attempts + 1,
                lease_until=now + self.policy.lease_seconds,
                locked_by=worker,
                started_at=now,
            )
            .returning(
                tasks.c.id,
                tasks.c.kind,
                tasks.c.payload,
                tasks.c.attempts,
                tasks.c.ordering_key,
                tasks.c.enqueued_at,
            )
        )
        with self.engine.begin() as connection:
            rows = connection.execute(statement).all()
        claimed = [
            Task(r.id, r.kind, r.payload, r.attempts, r.ordering_key, r.enqueued_at, now)
            for r in rows
        ]
        return sorted(claimed, key=lambda t: t.id)

    def renew(self, worker: str, task_ids: Sequence[int]) -> list[int]:
        """Extends, in one write, the lease of each given task `worker` still holds to a full
        lease from now; returns the ids renewed, ascending. A task that has finished, was given
        back, or was claimed by another worker after this one's lease ran out is left alone."""
        if not task_ids:
            return []
        with self.engine.begin() as connection:
            renewed = connection.scalars(
                update(tasks)
                .where(
                    tasks.c.id.in_(sorted(set(task_ids))),
                    tasks.c.state == RUNNING,
                    tasks.c.locked_by == worker,
                )
                .values(lease_until=self.clock() + self.policy.lease_seconds)
                .returning(tasks.c.id)
            )
            return sorted(renewed)

    def complete(self, task: Task, worker: str) -> None:
        self.complete_many([task], worker)

    def complete_many(self, finished: Sequence[Task], worker: str) -> None:
        """Marks finished tasks done in one write and lets the next task of each key go."""
        if not finished:
            return
        with self.engine.begin() as connection:
            _finish_turns(connection, finished)
            connection.execute(
                update(tasks)
                .where(tasks.c.id.in_([t.id for t in finished]), tasks.c.locked_by == worker)
                .values(state=DONE, finished_at=self.clock(), lease_until=None)
            )
            self._promote_next(connection, [t.id for t in finished if t.ordering_key])

    def fail(self, task: Task, worker: str, error: BaseException) -> str:
        """Records the error and decides: retry later (`queued`) or dead letter (`dead`)."""
        now = self.clock()
        attempts = task.attempts
        if isinstance(error, RateLimited):
            state, run_at = QUEUED, now + max(error.wait, 0.1)
            attempts -= 1  # the remote asked us to wait; that is no failed attempt
        elif isinstance(error, PermanentError) or attempts >= self.policy.max_attempts:
            state, run_at = DEAD, now
        else:
            state, run_at = QUEUED, now + self.policy.delay(attempts)
        message = describe(error)
        with self.engine.begin() as connection:
            if state == DEAD:
                _finish_turns(connection, [task])
            if not isinstance(error, Wait):  # a wait is no failure: no row in the history
                connection.execute(
                    insert(task_errors).values(
                        task_id=task.id,
                        attempt=task.attempts,
                        started_at=task.started_at,
                        failed_at=now,
                        error_type=type(error).__name__,
                        message=message,
                    )
                )
            connection.execute(
                update(tasks)
                .where(tasks.c.id == task.id, tasks.c.locked_by == worker)
                .values(
                    state=state,
                    run_at=run_at,
                    attempts=attempts,
                    lease_until=None,
                    finished_at=now if state == DEAD else None,
                    last_error=message,
                )
            )
            if state == DEAD and task.ordering_key:  # a dead letter holds back nothing
                self._promote_next(connection, [task.id])
        return state

    def release(self, tasks_held: Sequence[Task], worker: str) -> None:
        """Gives back claimed tasks untouched (graceful shutdown): they run again at once."""
        if not tasks_held:
            return
        with self.engine.begin() as connection:
            connection.execute(
                update(tasks)
                .where(tasks.c.id.in_([t.id for t in tasks_held]), tasks.c.locked_by == worker)
                .values(
                    state=QUEUED,
                    attempts=tasks.c.attempts - 1,
                    lease_until=None,
                    locked_by=None,
                    run_at=self.clock(),
                )
            )

    # -- administering ---------------------------------------------------------------------

    def get(self, task_id: int) -> dict[str, Any] | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
        return dict(row) if row else None

    def errors(self, task_id: int) -> list[dict[str, Any]]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(task_errors)
                .where(task_errors.c.task_id == task_id)
                .order_by(task_errors.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(tasks).where(tasks.c.state == DEAD).order_by(tasks.c.id).limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def replay(self, task_id: int | None = None) -> int:
        """Sends one dead letter (or all of them) back to the queue; returns how many."""
        condition = tasks.c.state == DEAD
        if task_id is not None:
            condition = and_(condition, tasks.c.id == task_id)
        # A keyed task waits its turn: it is promoted before the key's later tasks (lower id).
        new_state = case((tasks.c.ordering_key.is_(None), QUEUED), else_=WAITING)
        with self.engine.begin() as connection:
            keys = set(connection.scalars(select(tasks.c.ordering_key).where(condition)))
            result = connection.execute(
                update(tasks)
                .where(condition)
                .values(
                    state=new_state,
                    attempts=0,
                    run_at=self.clock(),
                    finished_at=None,
                    locked_by=None,
                )
            )
            self._promote(connection, keys)
        return result.rowcount

    def discard(self, task_id: int) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.state == DEAD)
                .values(state=DISCARDED)
            )
        return result.rowcount == 1

    def stats(self, count_done: bool = False) -> QueueStats:
        """Counts by state; finished tasks only when asked (that count reads the whole history)."""
        now = self.clock()
        states = [QUEUED, WAITING, RUNNING, DEAD] + ([DONE] if count_done else [])
        with reading(self.engine) as connection:
            counts: dict[str, int] = dict(
                connection.execute(
                    select(tasks.c.state, func.count())
                    .where(tasks.c.state.in_(states))
                    .group_by(tasks.c.state)
                ).all()
            )
            oldest = connection.scalar(
                select(func.min(tasks.c.enqueued_at)).where(tasks.c.state.in_((QUEUED, WAITING)))
            )
        return QueueStats(
            queued=counts.get(QUEUED, 0),
            waiting=counts.get(WAITING, 0),
            running=counts.get(RUNNING, 0),
            dead=counts.get(DEAD, 0),
            done=counts.get(DONE, 0),
            oldest_queued_age=None if oldest is None else max(0.0, now - oldest),
        )

    def purge_done(self, older_than_seconds: float) -> int:
        """Deletes finished tasks (and with them their dedupe keys) older than the window."""
        cutoff = self.clock() - older_than_seconds
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(tasks).where(tasks.c.state == DONE, tasks.c.finished_at < cutoff)
            )
        return result.rowcount


def _finish_turns(connection: Connection, finished: Sequence[Task]) -> None:
    """The turns of the finishing tasks' ordering keys (PostgreSQL; nothing on SQLite)."""
    take_turns(connection, [f"queue:{t.ordering_key}" for t in finished if t.ordering_key])


def describe(error: BaseException) -> str:
    """One line for the error trail: type and message, never a traceback."""
    text = str(error) or error.__class__.__name__
    if not isinstance(error, ConnectorError):
        text = f"{type(error).__name__}: {text}"
    return text[:2000]
