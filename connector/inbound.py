"""Inbound events: a webhook body is stored and its task enqueued in one transaction.

Only after that commit does the route answer 2xx, so nothing acknowledged can be lost; the
unique (source, delivery id) makes a re-delivered webhook a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy import Connection

from connector.config import sqlite_path
from connector.queue import LIVE, Queue
from connector.store.checkpoints import (
    SQLITE_DEFAULT_AUTOCHECKPOINT,
    Checkpointer,
    set_autocheckpoint,
)
from connector.store.raw import RawSQL, as_json, insert_each


@dataclass(frozen=True)
class TaskSpec:
    """The task an inbound event asks for."""

    kind: str
    payload: dict[str, Any]
    ordering_key: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What became of a delivery: stored (and its task queued), or a duplicate."""

    duplicate: bool
    queued: bool = False


def content_key(*parts: object) -> str:
    """A delivery id for sources that send none: a hash of what identifies the event."""
    joined = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Inbound:
    """One delivery to record: where it came from, its id, its raw body and the task it asks for."""

    source: str
    delivery_id: str
    topic: str | None
    body: bytes
    headers: dict[str, str]
    task: TaskSpec | None


class _Answer:
    """The writer's answer to one caller: a lock held until the answer is set. Lighter than a
    `Future`, which builds a `Condition` (and its lock) for every webhook."""

    __slots__ = ("_ready", "_result", "_error")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._result: Recorded | None = None
        self._error: BaseException | None = None

    def set_result(self, result: Recorded) -> None:
        self._result = result
        self._ready.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._ready.release()

    def result(self, timeout: float) -> Recorded:
        """The answer; raises what the store raised, or `TimeoutError` after `timeout` s."""
        if not self._ready.acquire(timeout=timeout):
            raise FutureTimeout(f"the store did not answer within {timeout:g} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class InboundWriter:
    """Records deliveries with group commit: one writer thread stores whatever deliveries are
    waiting in one transaction, and each caller returns only after that commit.

    A webhook is still never acknowledged before it is durable, but a burst costs one commit
    per group instead of one per webhook (the store takes one writer at a time).
    """

    def __init__(self, queue: Queue, max_group: int = 64) -> None:
        self.queue = queue
        self.max_group = max_group
        self._pending: SimpleQueue[tuple[Inbound, _Answer] | None] = SimpleQueue()
        self._connection: Connection | None = None  # kept between groups: no pool round trip
        self._checkpointer: Checkpointer | None = None
        path = sqlite_path(queue.engine.url.render_as_string(hide_password=False))
        if path is not None:  # the intake's commits never pay for a WAL checkpoint
            self._checkpointer = Checkpointer(path)
        self._thread = threading.Thread(
            target=self._write_forever, name="inbound-writer", daemon=True
        )
        self._thread.start()

    def record(self, inbound: Inbound, timeout: float = 30.0) -> Recorded:
        """Stores one delivery (with its task); raises what the store raised."""
        done = _Answer()
        self._pending.put((inbound, done))
        return done.result(timeout=timeout)

    def close(self) -> None:
        """Stores what is already waiting, then stops the writer and lets its connection go."""
        self._pending.put(None)
        self._thread.join(timeout=30)
        if self._checkpointer is not None:
            self._checkpointer.stop()

    def _write_forever(self) -> None:
        """Takes whatever is waiting (up to `max_group`), stores it, tells each caller."""
        closing = False
        while not closing:
            group: list[tuple[Inbound, _Answer]] = []
            waiting = self._pending.get()
            while waiting is not None:
                group.append(waiting)
                if len(group) == self.max_group:
                    break
                try:
                    waiting = self._pending.get_nowait()
                except Empty:
                    break
            closing = waiting is None
            if group:
                self._answer(group)
        self._disconnect()

    def _answer(self, group: list[tuple[Inbound, _Answer]]) -> None:
        try:
            results = self._write([inbound for inbound, _ in group])
        except Exception as error:  # noqa: BLE001 - every waiting caller learns of it
            for _, done in group:
                done.set_exception(error)
            return
        for (_, done), result in zip(group, results, strict=True):
            done.set_result(result)

    def _write(self, group: list[Inbound]) -> list[Recorded]:
        if self._connection is None:
            self._connection = self.queue.engine.connect()
            if self._checkpointer is not None:
                set_autocheckpoint(self._connection, 0)
        try:
            with self._connection.begin():
                return record_group(self.queue, self._connection, group)
        except Exception:
            self._disconnect()  # whatever went wrong, the next group starts on a fresh one
            raise

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                if self._checkpointer is not None:  # back in the pool, it checkpoints again
                    set_autocheckpoint(self._connection, SQLITE_DEFAULT_AUTOCHECKPOINT)
                self._connection.close()
            self._connection = None


def record_group(queue: Queue, connection: Connection, group: list[Inbound]) -> list[Recorded]:
    """Stores new deliveries and enqueues their tasks in the caller's transaction; a known
    (source, delivery id) changes nothing. One insert per delivery, probing the unique index
    once, and one enqueue per task kind."""
    now, results = time.time(), []
    tasks_by_kind: dict[str, list[tuple[dict[str, Any], str, str | None]]] = {}
    rows = [
        (
            inbound.source,
            inbound.delivery_id[:300],
            inbound.topic,
            now,
            as_json(inbound.headers),
            inbound.body.decode("utf-8", errors="replace"),
        )
        for inbound in group
    ]
    event_ids = insert_each(connection, _INSERT_EVENT, rows)
    for inbound, row, event_id in zip(group, rows, event_ids, strict=True):
        if event_id is None:  # stored before, or earlier in this group
            results.append(Recorded(duplicate=True))
            continue
        results.append(Recorded(duplicate=False, queued=inbound.task is not None))
        if inbound.task is not None:
            tasks_by_kind.setdefault(inbound.task.kind, []).append(
                (
                    inbound.task.payload,
                    f"inbound:{inbound.source}:{row[1]}"[:300],
                    inbound.task.ordering_key,
                )
            )
    for kind, items in tasks_by_kind.items():
        queue.enqueue_many(kind, items, connection=connection, priority=LIVE)
    return results


_INSERT_EVENT = RawSQL(
    "INSERT INTO inbound_events (source, delivery_id, topic, received_at, headers, body)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id"
)
