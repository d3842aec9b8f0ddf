"""Inbound events: a webhook body is stored and its task enqueued in one transaction.

Only after that commit does the route answer 2xx, so nothing acknowledged can be lost; the
unique (source, delivery id) makes a re-delivered webhook a no-op.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.queue import Queue
from connector.store import reading
from connector.store.tables import inbound_events


@dataclass(frozen=True)
class TaskSpec:
    """The task an inbound event asks for."""

    kind: str
    payload: dict[str, Any]
    ordering_key: str | None = None


@dataclass(frozen=True)
class Recorded:
    event_id: int | None
    task_id: int | None
    duplicate: bool


def content_key(*parts: object) -> str:
    """A delivery id for sources that send none: a hash of what identifies the event."""
    joined = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def record_inbound(
    queue: Queue,
    *,
    source: str,
    delivery_id: str,
    topic: str | None,
    body: bytes,
    headers: dict[str, str],
    task: TaskSpec | None,
) -> Recorded:
    """Stores the event and enqueues its task atomically; a known delivery id changes nothing."""
    row = {
        "source": source,
        "delivery_id": delivery_id[:300],
        "topic": topic,
        "received_at": time.time(),
        "headers": headers,
        "body": body.decode("utf-8", errors="replace"),
    }
    try:
        with queue.engine.begin() as connection:
            event_id = connection.execute(insert(inbound_events).values(row)).inserted_primary_key[
                0
            ]
            task_id = None
            if task is not None:
                task_id = queue.enqueue(
                    task.kind,
                    {**task.payload, "inbound_event_id": event_id},
                    dedupe_key=f"inbound:{source}:{delivery_id}"[:300],
                    ordering_key=task.ordering_key,
                    connection=connection,
                )
                connection.execute(
                    update(inbound_events)
                    .where(inbound_events.c.id == event_id)
                    .values(task_id=task_id)
                )
    except IntegrityError:
        return Recorded(
            event_id=_existing(queue, source, delivery_id), task_id=None, duplicate=True
        )
    return Recorded(event_id=event_id, task_id=task_id, duplicate=False)


def _existing(queue: Queue, source: str, delivery_id: str) -> int | None:
    with reading(queue.engine) as connection:
        return connection.scalar(
            select(inbound_events.c.id).where(
                inbound_events.c.source == source, inbound_events.c.delivery_id == delivery_id[:300]
            )
        )


def recent_events(queue: Queue, limit: int = 20, **where: Any) -> list[dict[str, Any]]:
    """The newest inbound events (for `trace` and support), newest first."""
    query = select(inbound_events).order_by(inbound_events.c.id.desc()).limit(limit)
    for column, value in where.items():
        query = query.where(inbound_events.c[column] == value)
    with reading(queue.engine) as connection:
        return [dict(r) for r in connection.execute(query).mappings()]
