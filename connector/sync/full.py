"""`connector sync --full`: the initial import, streamed page by page and resumable.

Every page is enqueued with `enqueue_many` in the transaction that saves the stream's
checkpoint (cursor `(system, "full:<stream>")`), and the next page is fetched only after that
commit: memory holds one page whatever a system's size, and an interrupted run continues after
its last committed page (`restart=True` starts over). Per-record tasks share their dedupe keys
with polling (`sync:<system>:<entity>:<id>:<modified>`), so a record the full sync already
queued is not queued again by a poll, and vice versa. When a stream completes, its checkpoint is
marked done and, if the stream has no polling cursor yet, polling starts from the moment the
full sync started: nothing changed meanwhile is missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from connector.errors import ConnectorError
from connector.queue import BULK, DEAD, DONE, UNFINISHED
from connector.store import reading
from connector.store.tables import tasks
from connector.sync.cursors import (
    drop_cursor,
    full_stream,
    load_cursor,
    read_cursor,
    save_cursor,
)
from connector.sync.streams import Outcome, Page, Stream, run_stream
from connector.sync.times import iso, utc
from connector.systems.registry import resolve

if TYPE_CHECKING:
    from connector.services import Services


def full_streams(services: Services) -> dict[str, tuple[str, ...]]:
    """system -> the streams of its full sync, in order (customers before the orders that refer
    to them): each system's `full_sync` declaration (connector/systems/registry.py)."""
    return {s.name: tuple(s.full_sync) for s in services.systems if s.full_sync}


class UnknownSystem(ConnectorError):
    """`--system` names a system the full sync cannot read."""


class CheckpointMismatch(ConnectorError):
    """A checkpoint was made with other options than the run that wants to continue it."""


def full_stream_of(services: Services, system: str, name: str, since: datetime | None) -> Stream:
    return resolve(services.systems.get(system).full_sync[name])(services, since)


def checkpoint_since(bookmark: dict[str, Any]) -> str | None:
    """The `--since` a checkpoint was made with, as UTC ISO text (None: everything)."""
    value = bookmark.get("since") if "page" in bookmark else bookmark.get("from")
    return iso(utc(value)) if value else None


def polling_start(services: Services, system: str, name: str, started: float) -> dict[str, Any]:
    """The polling cursor that starts where a full sync that began at `started` left off (the
    system's `polling_cursor`; `{"since": <ISO time>}` when it declares none)."""
    moment = datetime.fromtimestamp(started, UTC)
    declared = services.systems.get(system).polling_cursor
    return resolve(declared)(name, moment) if declared is not None else {"since": iso(moment)}


@dataclass
class StreamReport:
    """One stream of a full sync: what it did, and (with `--wait`) how the tasks ended."""

    outcome: Outcome
    status: str = "complete"  # complete | already complete | failed
    done: int = 0
    dead: int = 0
    unfinished: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.outcome.as_dict(),
            "status": self.status,
            "done": self.done,
            "dead": self.dead,
            "unfinished": self.unfinished,
        }


@dataclass
class FullSync:
    """Runs the full sync of some systems; `on_page(outcome, page)` follows progress."""

    services: Services
    since: datetime | None = None
    restart: bool = False
    keep_ids: bool = False
    on_stream: Callable[[str, str], None] | None = None
    on_page: Callable[[Outcome, Page], None] | None = None
    streams: tuple[str, ...] | None = None  # only these streams (all when None)
    reports: list[StreamReport] = field(default_factory=list)

    def systems(self, only: str | None) -> list[str]:
        if only is not None:
            if only not in full_streams(self.services):
                known = ", ".join(full_streams(self.services))
                raise UnknownSystem(f"--system: unknown system {only!r} (known: {known})")
            if not self.services.enabled(only):
                raise UnknownSystem(
                    f"--system: {only} is not configured (see CONNECTOR_{only.upper()}_*)"
                )
            return [only]
        found = [s for s in full_streams(self.services) if self.services.enabled(s)]
        if not found:
            known = ", ".join(full_streams(self.services))
            raise UnknownSystem(f"no system to sync: configure one of {known} first")
        return found

    def run(self, only: str | None = None) -> list[StreamReport]:
        for system in self.systems(only):
            for name in full_streams(self.services)[system]:
                if self.streams is None or name in self.streams:
                    self.reports.append(self.run_stream(system, name))
        return self.reports

    def run_stream(self, system: str, name: str) -> StreamReport:
        engine, cursor = self.services.engine, full_stream(name)
        if self.restart:
            with engine.begin() as connection:
                drop_cursor(connection, system, cursor)
        bookmark = read_cursor(engine, system, cursor)
        if bookmark and bookmark.get("done"):
            return StreamReport(Outcome(system, name), status="already complete")
        since = self._since_for(system, name, bookmark)
        started = float((bookmark or {}).get("t") or time.time())
        if self.on_stream is not None:
            self.on_stream(system, name)
        stream = _Stamped(full_stream_of(self.services, system, name, since), started)
        with self.services.queue.at_priority(BULK):  # a live order never waits behind it
            outcome = run_stream(
                self.services.queue,
                stream,
                cursor,
                keep_ids=self.keep_ids,
                on_page=self.on_page,
                bookmark=bookmark,
                use_saved=False,
                capture_errors=True,
            )
        if outcome.failed_pages:
            return StreamReport(outcome, status="failed")
        self._finish(system, name, started)
        return StreamReport(outcome)

    def _since_for(
        self, system: str, name: str, bookmark: dict[str, Any] | None
    ) -> datetime | None:
        """The requested `--since`; a resumed run keeps its checkpoint's (and must agree)."""
        if not bookmark:
            return self.since
        saved = checkpoint_since(bookmark)
        wanted = iso(self.since) if self.since is not None else None
        if self.since is not None and saved != wanted:
            raise CheckpointMismatch(
                f"--since: the interrupted full sync of {system}/{name} was started with "
                f"--since {saved or '(none)'}; run with --restart to start over"
            )
        return utc(saved) if saved else None

    def _finish(self, system: str, name: str, started: float) -> None:
        """Marks the checkpoint done; starts polling where the full sync began, if unset."""
        with self.services.engine.begin() as connection:
            save_cursor(connection, system, full_stream(name), {"done": True, "t": int(started)})
            if load_cursor(connection, system, name) is None:
                save_cursor(
                    connection, system, name, polling_start(self.services, system, name, started)
                )


class _Stamped:
    """Adds the full sync's start time (`t`) to every checkpoint, so a resumed run knows it."""

    def __init__(self, stream: Stream, started: float) -> None:
        self.inner, self.started = stream, started
        self.system, self.name = stream.system, stream.name

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        for page in self.inner.pages(bookmark):
            if page.bookmark is not None:
                page.bookmark = {**page.bookmark, "t": int(self.started)}
            yield page


def task_outcomes(services: Services, ids: list[int]) -> dict[str, int]:
    """How many of the tasks `ids` are done, dead, or not finished yet."""
    counts = {DONE: 0, DEAD: 0, "unfinished": 0}
    with reading(services.engine) as connection:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = connection.execute(
                select(tasks.c.state, func.count())
                .where(tasks.c.id.in_(chunk))
                .group_by(tasks.c.state)
            ).all()
            for state, count in rows:
                if state in UNFINISHED:
                    counts["unfinished"] += count
                elif state in counts:
                    counts[state] += count
    return counts


def wait_for_outcomes(
    services: Services,
    reports: list[StreamReport],
    timeout: float,
    poll_seconds: float = 1.0,
    on_tick: Callable[[int, int], None] | None = None,
) -> None:
    """Waits until the worker finished every task the full sync enqueued (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = 0
        for report in reports:
            counts = task_outcomes(services, report.outcome.task_ids)
            report.done, report.dead = counts[DONE], counts[DEAD]
            report.unfinished = counts["unfinished"]
            pending += report.unfinished
        if on_tick is not None:
            on_tick(sum(len(r.outcome.task_ids) for r in reports) - pending, pending)
        if not pending or time.monotonic() >= deadline:
            return
        time.sleep(poll_seconds)
