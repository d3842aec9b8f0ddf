"""The durable task queue: enqueue, claim with a lease, retry with backoff, dead letters.

Tasks live in the store, so they survive restarts. A unique dedupe key makes a second enqueue a
no-op. A claimed task carries a lease, which its worker renews (`renew`) for as long as it holds
the task, running or claimed ahead for a free thread: a task may run for longer than the lease,
and a task whose worker died is claimed again once its lease runs out, one lease after the
worker's last renewal. A renewal never takes back a task another worker has claimed since, and
a late completion by a worker that lost its lease is ignored. Tasks sharing an ordering key run
one at a time in enqueue order: only the oldest unfinished task of a key is `queued`; the ones
behind it are `waiting` and are promoted, one by one, when the one ahead finishes or dies.
Claims therefore never look at blocked tasks. A task that waits for another task's record (a
deal for its contact: `NotReady`) waits long, and the task that makes the record wakes it
(`wake`) in the transaction that saves it, so a dependency costs one wait, not a poll loop.

Each task has a priority, set by who enqueues it: `LIVE` (webhooks), `POLL` (polls, the default)
or `BULK` (full sync, reconciliation, nightly work); a task enqueued by a running task inherits
its priority, so the pushes of a live order are live too. A claim takes the most urgent due
tasks first and, within one priority, shares the batch between lanes (the system a task works
for, `connector.keys.lane`) in turns, so one system's backlog never starves another's. The order
of a key's tasks never changes: only its head is ever claimable, and a more urgent task enqueued
behind a key raises the tasks ahead of it to its priority (they must run first anyway).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
    select,
    update,
)

from connector import keys
from connector.config import Settings
from connector.errors import ConnectorError, PermanentError, RateLimited, Wait
from connector.store import reading, take_turns
from connector.store.raw import (
    RawSQL,
    as_json,
    in_list,
    insert_each,
    run_returning,
    select_column,
    select_rows,
)
from connector.store.tables import task_errors, tasks

QUEUED, WAITING, RUNNING = "queued", "waiting", "running"
DONE, DEAD, DISCARDED = "done", "dead", "discarded"
UNFINISHED = (QUEUED, WAITING, RUNNING)

# Priorities: a smaller number is claimed first.
LIVE, POLL, BULK = 0, 1, 2
PRIORITIES = {"live": LIVE, "poll": POLL, "bulk": BULK}

_UNFINISHED_SQL = ", ".join(repr(state) for state in UNFINISHED)

# Run for every enqueued task, webhooks included: plain SQL (see `connector.store.raw`).
_INSERT_TASK = RawSQL(
    "INSERT INTO tasks (kind, payload, state, dedupe_key, ordering_key, run_at, enqueued_at,"
    " attempts, priority, lane) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)
_BUSY_KEYS = (
    f"SELECT DISTINCT ordering_key FROM tasks WHERE state IN ({_UNFINISHED_SQL})"
    " AND ordering_key IN ({keys})"
)
# The tasks ahead of a more urgent one in its key run first anyway: they take its priority.
_RAISE_AHEAD = (
    f"UPDATE tasks SET priority = ? WHERE state IN ({_UNFINISHED_SQL}) AND priority > ?"
    " AND ordering_key IN ({keys})"
)
# Every (priority, lane) with a queued task, due or not, by a skip scan of `ix_tasks_claim`:
# one index probe per pair, however many tasks each holds.
_FIRST_LANE = (
    "SELECT {priority}, (SELECT MIN(lane) FROM tasks WHERE state = 'queued'"
    " AND priority = {priority})"
)
_QUEUED_LANES = RawSQL(
    "WITH RECURSIVE lanes(priority, lane) AS ("
    + " UNION ALL ".join(_FIRST_LANE.format(priority=p) for p in sorted(PRIORITIES.values()))
    + " UNION ALL SELECT l.priority, (SELECT MIN(t.lane) FROM tasks t WHERE t.state = 'queued'"
    " AND t.priority = l.priority AND t.lane > l.lane) FROM lanes l WHERE l.lane IS NOT NULL"
    ") SELECT priority, lane FROM lanes WHERE lane IS NOT NULL LIMIT 1000"
)
# The due head of one (priority, lane): a range of `ix_tasks_claim`.
_DUE_OF_LANE = (
    "SELECT id, priority, lane, run_at FROM tasks WHERE state = 'queued' AND priority = ?"
    " AND lane = ? AND run_at <= ? ORDER BY run_at, id LIMIT ?"
)
_EXPIRED = (
    "SELECT id, priority, lane, run_at FROM tasks WHERE state = 'running' AND lease_until < ?"
    " ORDER BY lease_until LIMIT ?"
)
# Keys with waiting tasks and none queued or running (normally none: one probe per waiting task).
_ORPHAN_KEYS = (
    "SELECT DISTINCT w.ordering_key FROM tasks w WHERE w.state = 'waiting' AND NOT EXISTS"
    " (SELECT 1 FROM tasks o WHERE o.ordering_key = w.ordering_key"
    " AND o.state IN ('queued', 'running'))"
)
_COMPLETE = (
    "UPDATE tasks SET state = 'done', finished_at = ?, lease_until = NULL"
    " WHERE id IN ({ids}) AND locked_by = ?"
)
# The oldest waiting task of each finished task's key becomes queued.
_PROMOTE_NEXT = (
    "UPDATE tasks SET state = 'queued' WHERE id IN (SELECT (SELECT MIN(w.id) FROM tasks w"
    " WHERE w.ordering_key = f.ordering_key AND w.state = 'waiting') FROM tasks f"
    " WHERE f.id IN ({ids}) AND f.ordering_key IS NOT NULL)"
)
# The state is checked again: on PostgreSQL another worker may have claimed a candidate since.
# (As a CASE, which no index serves: else SQLite may scan `ix_tasks_claim` instead of the ids.)
_CLAIM = (
    "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_until = ?,"
    " locked_by = ?, started_at = ? WHERE id IN ({ids}) AND CASE WHEN state = 'queued' THEN 1"
    " WHEN state = 'running' AND lease_until < ? THEN 1 ELSE 0 END = 1"
    " RETURNING id, kind, payload, attempts, ordering_key, enqueued_at, priority, lane"
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
    priority: int = POLL
    lane: str = ""


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
        self._scope = threading.local()  # the priority of what this thread is doing
        self._turns_lock = threading.Lock()
        self._turns: dict[str, int] = {}  # lane -> when it was last served (a claim counter)
        self._turn = 0
        self._claim_sql: dict[tuple[str, int], str] = {}

    # -- priorities ------------------------------------------------------------------------

    @contextlib.contextmanager
    def at_priority(self, priority: int) -> Iterator[None]:
        """Tasks this thread enqueues inside the block, without a priority of their own, get
        `priority`: the worker runs each task inside one, a full sync inside `BULK`."""
        before = getattr(self._scope, "priority", None)
        self._scope.priority = priority
        try:
            yield
        finally:
            self._scope.priority = before

    def current_priority(self) -> int:
        """The priority an enqueue without one gets here: the block's, or `POLL`."""
        priority = getattr(self._scope, "priority", None)
        return POLL if priority is None else int(priority)

    # -- producing -------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        run_at: float | None = None,
        ordering_key: str | None = None,
        connection: Connection | None = None,
        priority: int | None = None,
        lane: str | None = None,
    ) -> int | None:
        """Adds a task; returns its id, or None when `dedupe_key` was already used.

        Pass `connection` to enqueue inside the caller's transaction (store + enqueue atomically).
        """
        ids = self.enqueue_many(
            kind, [(payload, dedupe_key, ordering_key)], run_at, connection, priority, lane
        )
        return ids[0] if ids else None

    def enqueue_many(
        self,
        kind: str,
        items: Sequence[tuple[dict[str, Any], str | None, str | None]],
        run_at: float | None = None,
        connection: Connection | None = None,
        priority: int | None = None,
        lane: str | None = None,
    ) -> list[int]:
        """Adds tasks of one kind in one write, each given as (payload, dedupe_key, ordering_key).

        Producers that find work in pages (polling, full sync) use it directly. Returns the ids
        of the tasks that were new. A keyed task is `queued` only when nothing of its key is
        unfinished; otherwise it waits its turn. `priority` defaults to `current_priority()`,
        `lane` to the kind's (`connector.keys.lane`).
        """
        if not items:
            return []
        if priority is None:
            priority = self.current_priority()
        elif priority not in PRIORITIES.values():
            raise ValueError(f"task priority {priority!r}: one of {sorted(PRIORITIES.values())}")
        if connection is None:
            with self.engine.begin() as own:
                return self.enqueue_many(kind, items, run_at, own, priority, lane)
        lane = keys.lane(kind) if lane is None else lane[:30]
        now = self.clock()
        wanted_keys = {key for _, _, key in items if key}
        take_turns(connection, [f"queue:{key}" for key in wanted_keys])  # see _promote_next
        free_keys = self._free_keys(connection, wanted_keys)
        busy_keys = wanted_keys - free_keys
        rows, of_key = [], []
        when = now if run_at is None else run_at
        for payload, dedupe_key, ordering_key in items:
            ahead = ordering_key is not None and ordering_key not in free_keys
            free_keys.discard(ordering_key)
            of_key.append(ordering_key)
            state = WAITING if ahead else QUEUED
            rows.append(
                (kind, as_json(payload), state, dedupe_key, ordering_key, when, now, priority, lane)
            )
        ids = [int(i) for i in insert_each(connection, _INSERT_TASK, rows) if i is not None]
        if busy_keys and priority < BULK:  # the tasks ahead run first anyway: hurry them
            ordered = sorted(busy_keys)
            sql = _RAISE_AHEAD.format(keys=in_list(len(ordered)))
            run_returning(connection, sql, [priority, priority, *ordered])
        if len(ids) < len(rows):  # a deduplicated head may have left its key without one
            self._promote(connection, set(of_key))
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
        sql = _PROMOTE_NEXT.format(ids=in_list(len(finished_ids)))
        run_returning(connection, sql, list(finished_ids))

    def promote_orphans(self) -> int:
        """Promotes waiting tasks with nobody ahead of them: the safety net for a promotion lost
        to a race between concurrent transactions (possible on PostgreSQL, not on SQLite)."""
        with self.engine.begin() as connection:
            stuck = select_column(connection, _ORPHAN_KEYS, ())
            return self._promote(connection, set(stuck)) if stuck else 0

    # -- consuming -------------------------------------------------------------------------

    def claim(self, worker: str, limit: int = 1, finished: Sequence[Task] = ()) -> list[Task]:
        """Takes up to `limit` due tasks and tasks whose lease ran out: the most urgent first,
        and within one priority the lanes in turns (the one served longest ago first), each
        lane's tasks oldest due first. `finished` tasks are marked done first, in the same
        transaction (as `complete_many`): a busy worker pays one commit per round, not two."""
        if limit <= 0:
            self.complete_many(finished, worker)
            return []
        now = self.clock()
        with self.engine.begin() as connection:
            if finished:
                self._complete(connection, finished, worker)
            chosen = self._choose(connection, now, limit)
            if not chosen:
                return []
            sql = self._claim_statement(connection, len(chosen))
            lease = now + self.policy.lease_seconds
            rows = run_returning(connection, sql, [lease, worker, now, *chosen, now])
        rank = {task_id: n for n, task_id in enumerate(chosen)}
        claimed = [
            Task(
                id=int(r[0]),
                kind=r[1],
                payload=json.loads(r[2]) if isinstance(r[2], str | bytes) else r[2],
                attempts=int(r[3]),
                ordering_key=r[4],
                enqueued_at=r[5],
                started_at=now,
                priority=int(r[6]),
                lane=r[7],
            )
            for r in rows
        ]
        return sorted(claimed, key=lambda t: rank[t.id])

    def _choose(self, connection: Connection, now: float, limit: int) -> list[int]:
        """The ids to claim, in claim order."""
        pairs = select_rows(connection, _QUEUED_LANES.text(connection), ())
        candidates: list[tuple[Any, ...]] = []
        if pairs:
            part = f"SELECT * FROM ({_DUE_OF_LANE}) AS due"
            sql = " UNION ALL ".join([part] * len(pairs))
            params: list[Any] = []
            for priority, lane in pairs:
                params += [priority, lane, now, limit]
            candidates = select_rows(connection, sql, params)
        expired = select_rows(connection, _EXPIRED, (now, limit))
        with self._turns_lock:
            turns = self._turns
            seen: dict[tuple[int, str], int] = {}
            ranked = []
            for task_id, priority, lane, run_at in candidates:
                place = seen.get((priority, lane), 0)
                seen[(priority, lane)] = place + 1
                ranked.append(((priority, place, turns.get(lane, 0), run_at, task_id), task_id))
            ranked.sort()
            chosen = [int(task_id) for task_id, *_ in expired]
            chosen += [task_id for _, task_id in ranked[: max(0, limit - len(chosen))]]
            chosen = list(dict.fromkeys(chosen))[:limit]
            lanes = {task_id: lane for task_id, _, lane, _ in [*candidates, *expired]}
            for task_id in chosen:
                self._turn += 1
                turns[lanes[task_id]] = self._turn
        return chosen

    def _claim_statement(self, connection: Connection, count: int) -> str:
        style = connection.dialect.paramstyle
        if (style, count) not in self._claim_sql:
            self._claim_sql[(style, count)] = RawSQL(_CLAIM.format(ids=in_list(count))).text(
                connection
            )
        return self._claim_sql[(style, count)]

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
            self._complete(connection, finished, worker)

    def _complete(self, connection: Connection, finished: Sequence[Task], worker: str) -> None:
        ids = sorted(t.id for t in finished)
        keyed = sorted(t.id for t in finished if t.ordering_key)
        _finish_turns(connection, finished)
        sql = _COMPLETE.format(ids=in_list(len(ids)))
        run_returning(connection, sql, [self.clock(), *ids, worker])
        if keyed:
            self._promote_next(connection, keyed)

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

    def pending(self, kind: str, ordering_key: str) -> bool:
        """Whether a task of `kind` on this key is still to run (queued, waiting or running)."""
        with reading(self.engine) as connection:
            found = connection.execute(
                select(tasks.c.id)
                .where(
                    tasks.c.ordering_key == ordering_key,
                    tasks.c.state.in_(UNFINISHED),
                    tasks.c.kind == kind,
                )
                .limit(1)
            ).first()
        return found is not None

    def wake(self, connection: Connection, kind: str, ordering_keys: Sequence[str]) -> int:
        """Makes due now the tasks of `kind` on these keys that wait for later (a `NotReady`
        wait, or a push enqueued to wait, for the record the caller has just made), whether
        they head their key or wait their turn behind another task of it. Inside the caller's
        transaction: the wake is durable with the record. Returns how many were woken."""
        if not ordering_keys:
            return 0
        now = self.clock()
        result = connection.execute(
            update(tasks)
            .where(
                tasks.c.ordering_key.in_(sorted(set(ordering_keys))),
                tasks.c.state.in_((QUEUED, WAITING)),
                tasks.c.kind == kind,
                tasks.c.run_at > now,
            )
            .values(run_at=now)
        )
        return int(result.rowcount or 0)

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
