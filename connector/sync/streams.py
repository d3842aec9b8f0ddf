"""Streams and the page runner: each page's tasks and its bookmark are committed together.

A stream (after Airbyte's incremental streams, airbyte_cdk/sources/streams/core.py `read`)
reads a system page by page from a bookmark and turns each page into per-record tasks plus the
bookmark that holds once those tasks are safe. `run_stream` commits every page in one
transaction (enqueue + cursor), and only then asks the stream for the next page, so a crash
loses no page and doubles none; memory holds one page at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from connector.errors import ConnectorError
from connector.queue import Queue, describe
from connector.store import reading
from connector.sync.cursors import load_cursor, save_cursor

log = logging.getLogger("connector.sync")


@dataclass(frozen=True)
class TaskItem:
    """One per-record task: what `Queue.enqueue_many` takes, plus its kind."""

    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    ordering_key: str | None = None


@dataclass
class Page:
    """What one read gave: the tasks to enqueue and the bookmark valid once they are stored.

    `bookmark` None keeps the cursor as it is (streams without one, such as offline events);
    `skipped` counts records read but needing no task (e.g. a webhook already brought them);
    `on_commit` runs after the page's transaction committed (confirming offline events),
    `on_abort` when it failed (setting them aside instead of losing them).
    """

    tasks: list[TaskItem]
    bookmark: dict[str, Any] | None
    skipped: int = 0
    total: int | None = None  # records the whole read will see, when the system says
    last: bool = False  # the stream knows this is its last page
    on_commit: Callable[[], None] | None = None
    on_abort: Callable[[], None] | None = None
    filter_tasks: Callable[[Connection, list[TaskItem]], list[TaskItem]] | None = None


class Stream(Protocol):
    """A readable stream of one system: `pages(bookmark)` yields pages from that bookmark."""

    system: str
    name: str

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]: ...


@dataclass
class Outcome:
    """What a run of one stream did: records read, tasks new, tasks already queued."""

    system: str
    stream: str
    pages: int = 0
    read: int = 0
    enqueued: int = 0
    deduplicated: int = 0
    skipped: int = 0
    failed_pages: int = 0
    error: str | None = None
    task_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "task_ids"}
        return data


def commit_page(queue: Queue, system: str, cursor_stream: str, page: Page) -> tuple[list[int], int]:
    """Enqueues the page's tasks and saves its bookmark in one transaction.

    Returns (ids of the new tasks, tasks filtered out as already handled).
    """
    try:
        new_ids, filtered = _store_page(queue, system, cursor_stream, page)
    except BaseException:
        if page.on_abort is not None:
            page.on_abort()
        raise
    if page.on_commit is not None:
        page.on_commit()
    return new_ids, filtered


def _store_page(queue: Queue, system: str, cursor_stream: str, page: Page) -> tuple[list[int], int]:
    with queue.engine.begin() as connection:
        items = page.tasks
        filtered = 0
        if page.filter_tasks is not None and items:
            kept = page.filter_tasks(connection, items)
            filtered = len(items) - len(kept)
            items = kept
        by_kind: dict[str, list[tuple[dict[str, Any], str | None, str | None]]] = defaultdict(list)
        for item in items:
            by_kind[item.kind].append((item.payload, item.dedupe_key, item.ordering_key))
        new_ids: list[int] = []
        for kind, batch in by_kind.items():
            new_ids.extend(queue.enqueue_many(kind, batch, connection=connection))
        if page.bookmark is not None:
            save_cursor(connection, system, cursor_stream, page.bookmark)
    return new_ids, filtered


def run_stream(
    queue: Queue,
    stream: Stream,
    cursor_stream: str | None = None,
    *,
    keep_ids: bool = False,
    on_page: Callable[[Outcome, Page], None] | None = None,
    bookmark: dict[str, Any] | None = None,
    use_saved: bool = True,
    capture_errors: bool = False,
) -> Outcome:
    """Reads `stream` from its saved bookmark to the end, committing page by page.

    Errors of the system propagate (the queue retries the poll task) unless `capture_errors`
    records them in the outcome as a failed page; either way everything committed before
    stays committed, so the next run continues from the last page's bookmark.
    """
    cursor_stream = cursor_stream or stream.name
    if use_saved:
        with reading(queue.engine) as connection:
            bookmark = load_cursor(connection, stream.system, cursor_stream)
    outcome = Outcome(stream.system, stream.name)
    try:
        _run_pages(queue, stream, cursor_stream, bookmark, outcome, keep_ids, on_page)
    except ConnectorError as error:
        if not capture_errors:
            raise
        outcome.failed_pages += 1
        outcome.error = describe(error)
        log.warning("sync %s/%s stopped: %s", stream.system, cursor_stream, outcome.error)
        return outcome
    log.info(
        "sync %s/%s: %d read, %d enqueued, %d already queued, %d skipped",
        stream.system,
        cursor_stream,
        outcome.read,
        outcome.enqueued,
        outcome.deduplicated,
        outcome.skipped,
    )
    return outcome


def _run_pages(
    queue: Queue,
    stream: Stream,
    cursor_stream: str,
    bookmark: dict[str, Any] | None,
    outcome: Outcome,
    keep_ids: bool,
    on_page: Callable[[Outcome, Page], None] | None,
) -> None:
    for page in stream.pages(bookmark):
        new_ids, filtered = commit_page(queue, stream.system, cursor_stream, page)
        outcome.pages += 1
        outcome.read += len(page.tasks) + page.skipped
        outcome.skipped += page.skipped + filtered
        outcome.enqueued += len(new_ids)
        outcome.deduplicated += len(page.tasks) - filtered - len(new_ids)
        if keep_ids:
            outcome.task_ids.extend(new_ids)
        if on_page is not None:
            on_page(outcome, page)
