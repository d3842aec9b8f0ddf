"""Bitrix24 streams: reconciliation of deals and contacts by `DATE_MODIFY`, and offline events.

Online events carry only an ID and are never re-sent (research/bitrix24.md 6.3), so a
scheduled reconciliation asks for what changed since the bookmark (`>=DATE_MODIFY` a lookback
before it: timestamps have one-second resolution, 4 "Incremental pulls") and enqueues a
`bitrix24.event` task with event `RECONCILE` for each row; the flows read the entity fresh and
drop what they already applied. Paging is the fast export of 4: `order {ID: ASC}`,
`filter {">ID": last}`, `start=-1` (no COUNT). While a read runs the bookmark remembers the
window and the last ID, so a crash resumes after the last committed page.

Offline events (6.5; an OAuth app only) are reserved with `clear=0`, enqueued, and confirmed
with `event.offline.clear` only after the enqueue committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from connector import keys
from connector.sync.streams import Page, TaskItem
from connector.sync.times import iso, now, utc
from connector.systems.bitrix24.client import page_rows
from connector.systems.bitrix24.events import confirm_offline, fail_offline, read_offline

if TYPE_CHECKING:
    from connector.systems.bitrix24.client import Bitrix24Client

PAGE_SIZE = 50
ENTITIES = {"deals": "deal", "contacts": "contact"}
MARKERS = {"DEAL": "deal", "CONTACT": "contact"}


def reconcile_task(entity: str, row: dict[str, Any], event: str = "RECONCILE") -> TaskItem:
    """A `bitrix24.event` task as the webhook would enqueue it, for a row found by reading."""
    record_id = str(row["ID"])
    modified = str(row.get("DATE_MODIFY") or "")
    return TaskItem(
        kind="bitrix24.event",
        payload={"event": event, "entity": entity, "id": record_id, "ts": modified or None},
        dedupe_key=keys.synced("bitrix24", entity, record_id, modified),
        ordering_key=keys.record(entity, "bitrix24", record_id),
    )


class ModifiedScan:
    """Deals or contacts changed since the bookmark, in ID order.

    Bookmark between reads: `{"since": <iso>}` (the newest DATE_MODIFY seen); during one:
    `{"from": <iso>, "high": <iso>, "after": <last ID>}`. `since` (for `sync --full --since`)
    and `everything` (a full sync) fix the window instead.
    """

    system = "bitrix24"

    def __init__(
        self,
        client: Bitrix24Client,
        name: str = "deals",
        lookback: float = 900.0,
        first_window: float = 3600.0,
        since: datetime | None = None,
        everything: bool = False,
    ) -> None:
        self.client = client
        self.name = name
        self.entity = ENTITIES[name]
        self.method = f"crm.{self.entity}.list"
        self.lookback = timedelta(seconds=lookback)
        self.first_window = timedelta(seconds=first_window)
        self.since = since
        self.everything = everything
        self.fixed_window = everything or since is not None

    def _window(self, bookmark: dict[str, Any]) -> tuple[datetime | None, datetime | None, int]:
        """(window start, newest change seen so far, last ID read)."""
        if "after" in bookmark:
            start = utc(bookmark["from"]) if bookmark.get("from") else None
            high = utc(bookmark["high"]) if bookmark.get("high") else None
            return start, high, int(bookmark["after"])
        if self.everything or self.since is not None:
            return self.since, None, 0
        saved = bookmark.get("since")
        if saved:
            moment = utc(saved, f"cursor bitrix24/{self.name}")
            return moment - self.lookback, moment, 0
        return now() - self.first_window, None, 0

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        started = now()
        start, high, after = self._window(bookmark or {})
        while True:
            condition: dict[str, Any] = {">ID": after}
            if start is not None:
                condition[">=DATE_MODIFY"] = iso(start)
            params = {
                "order": {"ID": "ASC"},
                "filter": condition,
                "select": ["ID", "DATE_MODIFY"],
                "start": -1,
            }
            rows = page_rows(self.client.call(self.method, params))
            for row in rows:
                if row.get("DATE_MODIFY"):
                    moment = utc(row["DATE_MODIFY"])
                    high = moment if high is None else max(high, moment)
            last = len(rows) < PAGE_SIZE
            if rows:
                after = int(rows[-1]["ID"])
            mark: dict[str, Any]
            if last and not self.fixed_window:
                mark = {"since": iso(high or started)}
            else:  # a full sync keeps its place even at the end: a re-run finds nothing more
                mark = {"from": start and iso(start), "high": high and iso(high), "after": after}
            yield Page(
                tasks=[reconcile_task(self.entity, r) for r in rows], bookmark=mark, last=last
            )
            if last:
                return


def entity_of(event_name: str) -> str | None:
    """`ONCRMDEALUPDATE` -> `deal`; None for events the flows do not take."""
    name = event_name.upper()
    for marker, entity in MARKERS.items():
        if name.startswith(f"ONCRM{marker}") and name[5 + len(marker) :] in {
            "ADD",
            "UPDATE",
            "DELETE",
        }:
            return entity
    return None


class OfflineEvents:
    """The portal's offline event queue: reserved, enqueued, then confirmed (no bookmark)."""

    system = "bitrix24"
    name = "offline_events"

    def __init__(self, client: Bitrix24Client, limit: int = 50, max_batches: int = 100) -> None:
        self.client = client
        self.limit = limit
        self.max_batches = max_batches

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        for set_aside in (True, False):  # first what a failed run set aside, then the news
            for _ in range(self.max_batches):
                batch = read_offline(self.client, limit=self.limit, set_aside=set_aside)
                if not batch.events:
                    break
                tasks = [task for task in map(offline_task, batch.events) if task is not None]
                ids = [str(event.get("MESSAGE_ID")) for event in batch.events]
                yield Page(
                    tasks=tasks,
                    bookmark=None,
                    skipped=len(batch.events) - len(tasks),
                    on_commit=partial(confirm_offline, self.client, batch),
                    on_abort=partial(fail_offline, self.client, batch, ids),
                )
                if len(batch.events) < self.limit:
                    break


def offline_task(event: dict[str, Any]) -> TaskItem | None:
    """The `bitrix24.event` task of one offline event; None for events the flows do not take."""
    name = str(event.get("EVENT_NAME") or "").upper()
    entity = entity_of(name)
    fields = (event.get("EVENT_DATA") or {}).get("FIELDS") or {}
    if entity is None or not fields.get("ID"):
        return None
    stamp = str(event.get("TIMESTAMP_X") or "")
    return TaskItem(
        kind="bitrix24.event",
        payload={
            "event": name,
            "entity": entity,
            "id": str(fields["ID"]),
            "ts": stamp or None,
            "via": "offline",
        },
        dedupe_key=keys.offline_event("bitrix24", event.get("ID"), stamp),
        ordering_key=keys.record(entity, "bitrix24", fields["ID"]),
    )
