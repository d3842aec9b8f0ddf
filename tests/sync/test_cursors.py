"""A page's tasks and its cursor are committed together: a crash loses no page, doubles none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.sync.cursors import drop_cursor, read_cursor, save_cursor
from connector.sync.streams import Page, TaskItem, run_stream
from tests.sync.conftest import queued

RECORDS = list(range(1, 26))  # 25 records, 10 a page


class Numbers:
    """A stream over RECORDS in pages of 10; the bookmark is the last number read."""

    system, name = "test", "numbers"

    def __init__(self, crash_before_page: int | None = None) -> None:
        self.crash_before_page = crash_before_page
        self.fetched: list[int] = []

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        after = int((bookmark or {}).get("after", 0))
        while True:
            chunk = [n for n in RECORDS if n > after][:10]
            if not chunk:
                return
            self.fetched.append(chunk[0])
            after = chunk[-1]
            tasks = [TaskItem("test.record", {"n": n}, f"test:{n}", f"n:{n}") for n in chunk]
            yield Page(tasks=tasks, bookmark={"after": after})


def test_save_replaces_and_drop_forgets(services):
    with services.engine.begin() as connection:
        save_cursor(connection, "shop", "orders", {"modified": "2026-01-01T00:00:00"})
        save_cursor(connection, "shop", "orders", {"modified": "2026-01-02T00:00:00"})
    assert read_cursor(services.engine, "shop", "orders") == {"modified": "2026-01-02T00:00:00"}
    with services.engine.begin() as connection:
        assert drop_cursor(connection, "shop", "orders")
    assert read_cursor(services.engine, "shop", "orders") is None


def test_a_cursor_is_not_saved_when_its_transaction_fails(services):
    with pytest.raises(RuntimeError), services.engine.begin() as connection:
        services.queue.enqueue("test.record", {"n": 1}, "test:1", connection=connection)
        save_cursor(connection, "test", "numbers", {"after": 1})
        raise RuntimeError("crash before commit")
    assert read_cursor(services.engine, "test", "numbers") is None
    assert queued(services) == []


def test_a_crash_between_pages_loses_nothing_and_doubles_nothing(services, monkeypatch):
    queue = services.queue
    real = queue.enqueue_many
    calls = {"n": 0}

    def crash_on_third_page(kind, items, run_at=None, connection=None):
        calls["n"] += 1
        ids = real(kind, items, run_at, connection)  # written, but inside the open transaction
        if calls["n"] == 3:
            raise ConnectionError("worker killed mid-page")
        return ids

    monkeypatch.setattr(queue, "enqueue_many", crash_on_third_page)
    with pytest.raises(ConnectionError):
        run_stream(queue, Numbers())
    assert [t["payload"]["n"] for t in queued(services)] == list(range(1, 21))
    assert read_cursor(services.engine, "test", "numbers") == {"after": 20}

    monkeypatch.setattr(queue, "enqueue_many", real)
    again = Numbers()
    outcome = run_stream(queue, again)
    assert again.fetched == [21]  # resumed after the last committed page
    assert outcome.enqueued == 5 and outcome.deduplicated == 0
    assert [t["payload"]["n"] for t in queued(services)] == RECORDS


def test_reading_everything_again_enqueues_nothing_new(services):
    run_stream(services.queue, Numbers())
    outcome = run_stream(services.queue, Numbers(), use_saved=False)
    assert outcome.read == 25 and outcome.enqueued == 0 and outcome.deduplicated == 25
    assert len(queued(services)) == 25


def test_each_page_is_committed_before_the_next_page_is_read(services):
    seen_when_fetching: list[int] = []

    class Watching(Numbers):
        def pages(self, bookmark):
            for page in super().pages(bookmark):
                yield page
                # the runner asks for the next page only now: this page must be in the store
                seen_when_fetching.append(len(queued(services)))

    run_stream(services.queue, Watching())
    assert seen_when_fetching == [10, 20, 25]
