"""Polling Kaspi: which creation windows a poll reads, when its cursor moves, and the keys that
make a re-read order a no-op."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.systems.kaspi.client import MAX_WINDOW_MS, OrdersPage
from connector.systems.kaspi.polling import (
    FullOrdersStream,
    OrdersStream,
    order_task,
    polling_cursor,
)

DAY = 86_400_000
NOW = 1_717_398_000_000


class FakeKaspi:
    """Answers every page request with `per_state` orders in pages of `size`; records requests."""

    def __init__(self, per_state: int = 0) -> None:
        self.per_state = per_state
        self.asked: list[tuple[int, int, str, int]] = []

    def orders_page(self, low: int, high: int, state: str, page: int, size: int) -> OrdersPage:
        self.asked.append((low, high, state, page))
        count = (self.per_state + size - 1) // size
        start = page * size
        rows = [
            {"id": f"{state}-{i}", "attributes": {"code": str(i), "status": "APPROVED_BY_BANK"}}
            for i in range(start, min(start + size, self.per_state))
        ]
        return OrdersPage(rows, page, count, self.per_state)


def stream(client: Any, **options: Any) -> OrdersStream:
    return OrdersStream(client, clock=lambda: NOW / 1000, **options)


def test_a_first_poll_reads_every_state_over_the_recheck_span_then_bookmarks_its_end():
    client = FakeKaspi()

    pages = list(stream(client, recheck=86400.0, states=("NEW", "ARCHIVE")).pages(None))

    assert client.asked == [(NOW - DAY, NOW, "NEW", 0), (NOW - DAY, NOW, "ARCHIVE", 0)]
    assert [p.bookmark for p in pages] == [None, {"created": NOW + 1}]


def test_after_a_long_outage_the_poll_starts_a_lookback_before_the_cursor_in_14_day_windows():
    client = FakeKaspi()
    cursor = NOW - 30 * DAY

    pages = list(stream(client, lookback=60.0, states=("NEW",)).pages({"created": cursor}))

    spans = [(low, high) for low, high, _state, _page in client.asked]
    assert spans[0][0] == cursor - 60_000 and spans[-1][1] == NOW
    assert all(high - low < MAX_WINDOW_MS for low, high in spans)
    # the cursor moves at the end of each window, so a poll killed mid-way resumes there
    assert [p.bookmark["created"] for p in pages] == [high + 1 for _low, high in spans]


def test_a_recent_cursor_is_re_read_over_the_recheck_span_for_status_changes():
    client = FakeKaspi()

    list(stream(client, recheck=3 * 86400.0, states=("NEW",)).pages({"created": NOW - 60_000}))

    assert client.asked == [(NOW - 3 * DAY, NOW, "NEW", 0)]


def test_a_tick_sooner_than_the_poll_pace_reads_nothing():
    client = FakeKaspi()

    pages = list(stream(client, every=300.0).pages({"created": NOW - 60_000}))

    assert pages == [] and client.asked == []


def test_pages_are_read_from_zero_until_kaspi_says_the_last_and_only_the_last_moves_the_cursor():
    client = FakeKaspi(per_state=5)

    pages = list(stream(client, recheck=86400.0, page_size=2, states=("NEW",)).pages(None))

    assert [page for *_rest, page in client.asked] == [0, 1, 2]
    assert [len(p.tasks) for p in pages] == [2, 2, 1]
    assert [p.bookmark for p in pages] == [None, None, {"created": NOW + 1}]


def test_an_order_task_is_keyed_by_id_and_status_and_ordered_per_order():
    order = {"id": "MTQ1", "attributes": {"code": "612345678", "status": "APPROVED_BY_BANK"}}
    accepted = {"id": "MTQ1", "attributes": {"code": "612345678", "status": "ACCEPTED_BY_MERCHANT"}}

    first, again, later = order_task(order), order_task(dict(order)), order_task(accepted)

    assert first.kind == "kaspi.order"
    assert first.dedupe_key == again.dedupe_key == "sync:kaspi:order:MTQ1:APPROVED_BY_BANK"
    assert later.dedupe_key != first.dedupe_key
    assert first.ordering_key == later.ordering_key == "order:kaspi:MTQ1"
    assert first.payload["order"] == order


def test_a_full_sync_reads_from_since_and_resumes_at_its_checkpoint_window():
    since = datetime.fromtimestamp((NOW - 30 * DAY) / 1000, UTC)
    first, resumed = FakeKaspi(), FakeKaspi()

    pages = list(
        FullOrdersStream(first, since, states=("NEW",), clock=lambda: NOW / 1000).pages(None)
    )
    checkpoint = pages[0].bookmark
    list(
        FullOrdersStream(resumed, since, states=("NEW",), clock=lambda: NOW / 1000).pages(
            checkpoint
        )
    )

    assert first.asked[0][0] == NOW - 30 * DAY and first.asked[-1][1] == NOW
    assert checkpoint == {"created": first.asked[0][1] + 1, "from": since.isoformat()}
    assert resumed.asked == first.asked[1:]
    assert polling_cursor("orders", since) == {"created": NOW - 30 * DAY}
