"""Helpers of the console's tests: dead letters made the way the worker makes them."""

from __future__ import annotations

from typing import Any

from connector.errors import PermanentError
from connector.services import Services


def make_dead_letter(
    services: Services, kind: str, payload: dict[str, Any], error: str = "refused"
) -> int:
    """Enqueues a task, claims it and fails it for good: a dead letter with one attempt."""
    queue = services.queue
    task_id = queue.enqueue(kind, payload)
    assert task_id is not None
    claimed = queue.claim("test-worker", limit=100)
    task = next(t for t in claimed if t.id == task_id)
    assert queue.fail(task, "test-worker", PermanentError(error)) == "dead"
    for other in claimed:
        if other.id != task_id:
            queue.release([other], "test-worker")
    return task_id
