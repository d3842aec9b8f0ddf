"""Inbound events: a webhook body is stored and its task enqueued in one transaction.

Only after that commit does the route answer 2xx, so nothing acknowledged can be lost; the
unique (source, delivery id) makes a re-delivered webhook a no-op.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from connector.queue import Queue
from connector.store.tables import inbound_events


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


class InboundWriter:
    """Records deliveries with group commit: one writer thread stores whatever deliveries are
    waiting in one transaction, and each caller returns only after that commit.

    A webhook is still never acknowledged before it is durable, but a burst costs one commit
    per group instead of one per webhook (the store takes one writer at a time).
    """

    def __init__(self, queue: Queue, max_group: int = 64) -> None:
        self.queue = queue
        self.max_group = max_group
        self._pending: SimpleQueue[tuple[Inbound, Future[Recorded]]] = SimpleQueue()
        self._thread = threading.Thread(
            target=self._write_forever, name="inbound-writer", daemon=True
        )
        self._thread.start()

    def record(self, inbound: Inbound, timeout: float = 30.0) -> Recorded:
        """Stores one delivery (with its task); raises what the store raised."""
        done: Future[Recorded] = Future()
        self._pending.put((inbound, done))
        return done.result(timeout=timeout)

    def _write_forever(self) -> None:
        """Takes whatever is waiting (up to `max_group`), stores it, tells each caller."""
        while True:
            group = [self._pending.get()]
            while len(group) < self.max_group:
                try:
                    group.append(self._pending.get_nowait())
                except Empty:
                    break
            try:
                results = self._write([inbound for inbound, _ in group])
            except Exception as error:  # noqa: BLE001 - every waiting caller learns of it
                for _, done in group:
                    done.set_exception(error)
                continue
            for (_, done), result in zip(group, results, strict=True):
                done.set_result(result)

    def _write(self, group: list[Inbound]) -> list[Recorded]:
        try:
            with self.queue.engine.begin() as connection:
                return record_group(self.queue, connection, group)
        except IntegrityError:  # another process stored one of them meanwhile: go one by one
            with self.queue.engine.begin() as connection:
                return [record_group(self.queue, connection, [one])[0] for one in group]


def record_group(queue: Queue, connection: Connection, group: list[Inbound]) -> list[Recorded]:
    """Stores new deliveries and enqueues their tasks in the caller's transaction, with a few
    statements for the whole group; a known (source, delivery id) changes nothing."""
    ids = {inbound.delivery_id[:300] for inbound in group}
    known = {
        (row.source, row.delivery_id)
        for row in connection.execute(
            select(inbound_events.c.source, inbound_events.c.delivery_id).where(
                inbound_events.c.delivery_id.in_(sorted(ids))
            )
        )
    }
    now, rows, results = time.time(), [], []
    tasks_by_kind: dict[str, list[tuple[dict[str, Any], str, str | None]]] = {}
    for inbound in group:
        key = (inbound.source, inbound.delivery_id[:300])
        if key in known:
            results.append(Recorded(duplicate=True))
            continue
        known.add(key)
        results.append(Recorded(duplicate=False, queued=inbound.task is not None))
        rows.append(
            {
                "source": inbound.source,
                "delivery_id": key[1],
                "topic": inbound.topic,
                "received_at": now,
                "headers": inbound.headers,
                "body": inbound.body.decode("utf-8", errors="replace"),
            }
        )
        if inbound.task is not None:
            tasks_by_kind.setdefault(inbound.task.kind, []).append(
                (
                    inbound.task.payload,
                    f"inbound:{inbound.source}:{key[1]}"[:300],
                    inbound.task.ordering_key,
                )
            )
    if rows:
        connection.execute(insert(inbound_events), rows)
    for kind, items in tasks_by_kind.items():
        queue.enqueue_many(kind, items, connection=connection)
    return results
