"""WooCommerce streams: `modified_after` polling of orders and products, a scan of customers.

WooCommerce webhooks are best effort: never retried, disabled after repeated failures, coalesced
while one is pending (research/shop_delivery_loyalty.md 0.1 and 1.5), so these polls are the
backstop. Orders and products are read with `modified_after`, `dates_are_gmt=true`,
`orderby=modified&order=asc` (1.2 "poll recipe"); the window starts a lookback before the
bookmark, and the dedupe key (id + `date_modified_gmt`) makes a re-read record a no-op.
Paging is by key, not by page number: a record changed during the read moves to the end of
the set, which would shift later pages and skip one; each request starts again after the last
modification time read (ties inside one second are stepped over with `offset`).
`/customers` cannot filter by date (woocommerce#31482): customers are scanned by id and the
rows changed since the bookmark kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select

from connector import keys
from connector.store.tables import inbound_events
from connector.sync.streams import Page, TaskItem
from connector.sync.times import now, utc, wc_gmt

if TYPE_CHECKING:
    from connector.systems.woocommerce.client import WooCommerceClient

PER_PAGE = 100
RESOURCES = {
    "orders": "order",
    "products": "product",
    "customers": "customer",
    "coupons": "coupon",  # connector/promo (issue 17)
}
ONE_SECOND = timedelta(seconds=1)


def record_task(resource: str, row: dict[str, Any], via: str) -> TaskItem:
    """The per-record task a webhook would have enqueued: re-read `resource` `id` fresh."""
    record_id = int(row["id"])
    modified = str(row.get("date_modified_gmt") or row.get("date_created_gmt") or "")
    payload: dict[str, Any] = {"id": record_id, "via": via}
    if resource == "order":
        payload["modified"] = modified or None
    return TaskItem(
        kind=f"woocommerce.{resource}",
        payload=payload,
        dedupe_key=keys.synced("woocommerce", resource, record_id, modified),
        ordering_key=keys.record(resource, "woocommerce", record_id),
    )


def already_delivered(resource: str):  # noqa: ANN201 - a Page.filter_tasks callable
    """Drops tasks whose change a webhook already stored (same id and modification time).

    Webhook delivery ids are `<topic>:<id>:<modified>:<body hash>` (webhooks.py), so a stored
    delivery is found by its prefix.
    """

    def keep(connection: Connection, items: list[TaskItem]) -> list[TaskItem]:
        wanted: dict[str, TaskItem] = {}
        for item in items:
            record_id, modified = item.dedupe_key.split(":", 4)[3:5]
            for topic in ("created", "updated"):
                wanted[f"{resource}.{topic}:{record_id}:{modified}:"] = item
        if not wanted:
            return items
        seen = connection.scalars(
            select(inbound_events.c.delivery_id).where(
                inbound_events.c.source == "woocommerce",
                or_(*(inbound_events.c.delivery_id.startswith(key) for key in sorted(wanted))),
            )
        )
        dropped = {id(wanted[key[: key.rindex(":") + 1]]) for key in seen}
        return [item for item in items if id(item) not in dropped]

    return keep


class ModifiedStream:
    """Orders or products changed since the bookmark `{"modified": <gmt>}`, oldest first."""

    system = "woocommerce"

    def __init__(
        self,
        client: WooCommerceClient,
        name: str = "orders",
        lookback: float = 300.0,
        first_window: float = 3600.0,
        per_page: int = PER_PAGE,
        via: str = "poll",
    ) -> None:
        self.client = client
        self.name = name
        self.resource = RESOURCES[name]
        self.lookback = timedelta(seconds=lookback)
        self.first_window = timedelta(seconds=first_window)
        self.per_page = per_page
        self.via = via

    def start(self, bookmark: dict[str, Any] | None) -> tuple[datetime, datetime | None]:
        """(window start, bookmark so far): a lookback before the bookmark, or the first window."""
        if bookmark and bookmark.get("modified"):
            saved = utc(bookmark["modified"], f"cursor woocommerce/{self.name}")
            return saved - self.lookback, saved
        return now() - self.first_window, None

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        started = now()
        after, high = self.start(bookmark)
        skip = 0
        while True:
            params = {
                "modified_after": wc_gmt(after),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
                "per_page": self.per_page,
            }
            if skip:
                params["offset"] = skip
            rows, _headers = self.client.request_full("GET", f"/{self.name}", params=params)
            rows = list(rows or [])
            if not rows:
                if high is None:  # nothing changed yet: remember that we looked until now
                    yield Page(tasks=[], bookmark={"modified": wc_gmt(started)})
                return
            last = utc(rows[-1]["date_modified_gmt"])
            ties = sum(1 for r in rows if utc(r["date_modified_gmt"]) == last)
            following = last - ONE_SECOND  # `modified_after` is strict: re-read `last`'s second
            skip = skip + ties if following == after else ties
            after = following
            high = last if high is None else max(high, last)
            yield Page(
                tasks=[record_task(self.resource, r, self.via) for r in rows],
                bookmark={"modified": wc_gmt(high)},
                filter_tasks=already_delivered(self.resource),
            )
            if len(rows) < self.per_page:
                return


class CustomerScan:
    """Customers changed since the bookmark, found by a scan in id order (no date filter).

    Bookmark while a scan runs: `{"from": <gmt>, "high": <gmt>, "page": n}`; after it:
    `{"modified": <gmt>}`, the newest change seen.
    """

    system = "woocommerce"
    name = "customers"

    def __init__(
        self,
        client: WooCommerceClient,
        lookback: float = 300.0,
        first_window: float | None = 3600.0,
        per_page: int = PER_PAGE,
        via: str = "poll",
    ) -> None:
        self.client = client
        self.lookback = timedelta(seconds=lookback)
        self.first_window = None if first_window is None else timedelta(seconds=first_window)
        self.per_page = per_page
        self.via = via

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        bookmark = bookmark or {}
        if "page" in bookmark:  # a scan was interrupted: go on after its last page
            since = utc(bookmark["from"]) if bookmark.get("from") else None
            high = utc(bookmark["high"]) if bookmark.get("high") else None
            page = int(bookmark["page"]) + 1
        else:
            saved = bookmark.get("modified")
            high = utc(saved) if saved else None
            if saved:
                since = utc(saved) - self.lookback
            else:
                since = None if self.first_window is None else now() - self.first_window
            page = 1
        while True:
            params = {"orderby": "id", "order": "asc", "role": "all", "per_page": self.per_page}
            rows, headers = self.client.request_full(
                "GET", "/customers", params={**params, "page": page}
            )
            rows = list(rows or [])
            pages = int(headers.get("X-WP-TotalPages") or 1)
            changed = []
            for row in rows:
                stamp = row.get("date_modified_gmt") or row.get("date_created_gmt")
                moment = utc(stamp) if stamp else None
                if since is None or moment is None or moment >= since:
                    changed.append(row)
                if moment is not None:
                    high = moment if high is None else max(high, moment)
            last = page >= pages or len(rows) < self.per_page
            mark: dict[str, Any]
            if last:
                mark = {"modified": wc_gmt(high)} if high else {}
            else:
                mark = {
                    "page": page,
                    "from": since and wc_gmt(since),
                    "high": high and wc_gmt(high),
                }
            yield Page(
                tasks=[record_task("customer", r, self.via) for r in changed],
                bookmark=mark,
                skipped=len(rows) - len(changed),
                filter_tasks=already_delivered("customer"),
            )
            if last:
                return
            page += 1
