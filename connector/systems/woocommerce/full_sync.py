"""WooCommerce's `connector sync --full` (its declaration's `full_sync` and `polling_cursor`):
every order, product or customer in id order, resumable page by page (connector/sync/full.py
runs it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.sync import woocommerce
from connector.sync.streams import Page
from connector.sync.times import utc, wc_gmt

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.woocommerce.client import WooCommerceClient


class FullWooStream:
    """Every order, product or customer in id order (changed since `since`, when given).

    Checkpoint `{"page": n, "last_id": id, "since": ...}`. A resumed run reads page n again and
    keeps only ids after `last_id`: records deleted meanwhile shift later pages back, and this
    catches up to a page of such shift.
    """

    system = "woocommerce"

    def __init__(
        self,
        client: WooCommerceClient,
        name: str,
        since: datetime | None = None,
        per_page: int = 100,
    ) -> None:
        self.client = client
        self.name = name
        self.resource = woocommerce.RESOURCES[name]
        self.since = since
        self.per_page = per_page

    def pages(self, bookmark: dict[str, Any] | None) -> Iterator[Page]:
        page = int((bookmark or {}).get("page") or 1)
        last_id = int((bookmark or {}).get("last_id") or 0)
        params: dict[str, Any] = {"orderby": "id", "order": "asc", "per_page": self.per_page}
        if self.name == "customers":
            params["role"] = "all"
        elif self.since is not None:
            params |= {"modified_after": wc_gmt(self.since), "dates_are_gmt": "true"}
        while True:
            rows, headers = self.client.request_full(
                "GET", f"/{self.name}", params={**params, "page": page}
            )
            rows = list(rows or [])
            fresh = [r for r in rows if int(r["id"]) > last_id]
            wanted = [r for r in fresh if self._changed(r)]
            if rows:
                last_id = max(last_id, max(int(r["id"]) for r in rows))
            pages = int(headers.get("X-WP-TotalPages") or 1)
            total = headers.get("X-WP-Total")
            last = page >= pages or len(rows) < self.per_page
            mark: dict[str, Any] = {"page": page, "last_id": last_id}
            if self.since is not None:
                mark["since"] = wc_gmt(self.since)
            yield Page(
                tasks=[woocommerce.record_task(self.resource, r, "full") for r in wanted],
                bookmark=mark,
                skipped=len(fresh) - len(wanted),
                total=int(total) if total is not None else None,
                last=last,
            )
            if last:
                return
            page += 1

    def _changed(self, row: dict[str, Any]) -> bool:
        if self.since is None or self.name != "customers":
            return True  # the API filtered already
        stamp = row.get("date_modified_gmt") or row.get("date_created_gmt")
        return not stamp or utc(stamp) >= self.since


def full_stream(services: Services, name: str, since: datetime | None) -> FullWooStream:
    """The full sync of `name`: every record in id order (`FullWooStream`)."""
    return FullWooStream(services.woocommerce, name, since)


def polling_cursor(name: str, moment: datetime) -> dict[str, Any]:
    """WooCommerce polls by `modified_after`, in its own GMT format."""
    return {"modified": wc_gmt(moment)}
