"""Polling Kaspi orders: creation windows that overlap, a cursor, one task per order and status.

Kaspi has no webhooks and no "changed since" filter: `GET /orders` selects by creation date (a
window of at most 14 days) and by state. So each poll reads every state over a window that
starts `recheck` before now (to see the status changes of recent orders: an acceptance, a
cancellation, a return), or earlier, `lookback` before the cursor, when the connector was down
longer than that. The cursor `{"created": ms}` says "every order created before this was read";
it is saved with the last page of each window (connector.sync.streams commits a page's tasks and
its bookmark together), so a poll killed mid-way resumes at the window it was in.

Reading the same order twice is the rule, not an accident: the task's dedupe key is the order's
id and status (`sync:kaspi:order:<id>:<status>`), so an order seen in two overlapping polls is
queued once per status it reaches, and a re-read one is a no-op.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from connector import keys
from connector.sync.streams import Page, TaskItem
from connector.systems.kaspi.client import PAGE_SIZE, STATES, windows
from connector.systems.kaspi.settings import KaspiSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.kaspi.client import KaspiClient

ORDER_KIND = "kaspi.order"


def order_task(order: dict[str, Any]) -> TaskItem:
    """The per-order task: the order as read (Kaspi answers it whole), keyed by id and status."""
    order_id = str(order["id"])
    attributes = order.get("attributes") or {}
    status = str(attributes.get("status") or "")
    return TaskItem(
        kind=ORDER_KIND,
        payload={"id": order_id, "code": attributes.get("code"), "status": status, "order": order},
        dedupe_key=keys.synced("kaspi", "order", order_id, status),
        ordering_key=keys.record("order", "kaspi", order_id),
    )


class OrdersStream:
    """Kaspi orders created since the cursor (less `lookback`) or in the last `recheck` seconds,
    whichever is earlier, in every state; nothing when the last poll is younger than `every`."""

    system = "kaspi"
    name = "orders"

    def __init__(
        self,
        client: KaspiClient,
        recheck: float = 13 * 86400.0,  # one 14-day window with room for the lookback
        lookback: float = 600.0,
        every: float = 0.0,
        states: tuple[str, ...] = STATES,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.recheck_ms = int(recheck * 1000)
        self.lookback_ms = int(lookback * 1000)
        self.every_ms = int(every * 1000)
        self.states = states
        self.page_size = page_size
        self.clock = clock

    def start(self, now_ms: int, bookmark: dict[str, Any] | None) -> int | None:
        """Where this poll's first window starts; None when the last poll is too recent."""
        start = now_ms - self.recheck_ms
        saved = (bookmark or {}).get("created")
        if saved is None:
            return start
        if now_ms - int(saved) < self.every_ms:
            return None
        return min(start, int(saved) - self.lookback_ms)

    def mark(self, created: int) -> dict[str, Any]:
        """The bookmark once every order created before `created` (epoch ms) was read."""
        return {"created": created}

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        now_ms = int(self.clock() * 1000)
        start = self.start(now_ms, bookmark)
        if start is None:
            return
        for low, high in windows(start, now_ms):
            for index, state in enumerate(self.states):
                page = 0
                while True:
                    found = self.client.orders_page(low, high, state, page, self.page_size)
                    done = found.last and index == len(self.states) - 1
                    yield Page(
                        tasks=[order_task(order) for order in found.orders],
                        bookmark=self.mark(high + 1) if done else None,
                    )
                    if found.last:
                        break
                    page += 1


def order_stream(services: Services, options: dict[str, Any]) -> OrdersStream:
    """The `kaspi/orders` stream of `sync.poll`; `lookback` and `first_window` (the re-read
    span, seconds) from the job's payload, the pace from CONNECTOR_KASPI_POLL_MINUTES."""
    from connector.systems.kaspi.system import kaspi_client

    chosen: dict[str, Any] = {}
    if options.get("lookback") is not None:
        chosen["lookback"] = float(options["lookback"])
    if options.get("first_window") is not None:
        chosen["recheck"] = float(options["first_window"])
    every = services.settings.of(KaspiSettings).poll_minutes * 60.0
    # a scheduled tick that comes a little early still polls
    return OrdersStream(
        kaspi_client(services),
        every=max(0.0, every - 30.0),
        clock=services.queue.clock,
        **chosen,
    )


FULL_SYNC_DAYS = 90  # `connector sync --full` without --since: Kaspi documents no history limit


class FullOrdersStream(OrdersStream):
    """`connector sync --full`: every order created since `since` (else the last 90 days), window
    by window; its checkpoint `{"created": ms, "from": since}` resumes at the window it was in."""

    def __init__(self, client: KaspiClient, since: dt.datetime | None, **options: Any) -> None:
        super().__init__(client, **options)
        self.since = since

    def start(self, now_ms: int, bookmark: dict[str, Any] | None) -> int | None:
        if bookmark and bookmark.get("created") is not None:
            return int(bookmark["created"])
        if self.since is not None:
            return int(self.since.timestamp() * 1000)
        return now_ms - FULL_SYNC_DAYS * 86_400_000

    def mark(self, created: int) -> dict[str, Any]:
        since = self.since.astimezone(dt.UTC).isoformat() if self.since is not None else None
        return {"created": created, "from": since}


def full_order_stream(services: Services, since: dt.datetime | None) -> FullOrdersStream:
    from connector.systems.kaspi.system import kaspi_client

    return FullOrdersStream(kaspi_client(services), since, clock=services.queue.clock)


def polling_cursor(name: str, moment: dt.datetime) -> dict[str, Any]:
    """Polling starts where a full sync begun at `moment` left off."""
    return {"created": int(moment.timestamp() * 1000)}
