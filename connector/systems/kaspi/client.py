"""Kaspi.kz merchant API client: orders by creation window, their lines, status changes.

Facts (specs/kaspi/README.md): JSON:API over `https://kaspi.kz/shop/api/v2` with `X-Auth-Token`;
`GET /orders` needs `page[number]` (from 0), `page[size]` (at most 100), a creation-date window in
epoch milliseconds (at most 14 days: longer ranges are split here) and a `state`; lines are
behind `/orders/{id}/entries`, the merchant's SKU two calls further; `POST /orders` changes a
status. Success is HTTP 200; Kaspi documents no error body, so any other answer is typed by its
status alone (5xx and time-outs transient, 401/403 credentials, other 4xx permanent).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Unpack

import requests

from connector.config import Settings
from connector.errors import ConnectorError, PermanentError
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    parse_retry_after,
    require,
)
from connector.systems.kaspi.settings import KaspiSettings

DEFAULT_URL = "https://kaspi.kz/shop/api/v2"
MEDIA_TYPE = "application/vnd.api+json"
PAGE_SIZE = 100
DAY_MS = 86_400_000
MAX_WINDOW_MS = 14 * DAY_MS
STATES = ("NEW", "SIGN_REQUIRED", "PICKUP", "DELIVERY", "KASPI_DELIVERY", "ARCHIVE")
CANCELLATION_REASONS = (
    "BUYER_CANCELLATION_BY_MERCHANT",
    "BUYER_NOT_REACHABLE",
    "MERCHANT_OUT_OF_STOCK",
)


@dataclass(frozen=True)
class OrdersPage:
    """One page of `GET /orders`: the order resources and Kaspi's page count."""

    orders: list[dict[str, Any]]
    page: int
    page_count: int
    total_count: int

    @property
    def last(self) -> bool:
        return self.page + 1 >= self.page_count or not self.orders


def windows(start_ms: int, end_ms: int, most: int = MAX_WINDOW_MS) -> Iterator[tuple[int, int]]:
    """`[start, end]` as consecutive creation windows of at most `most` ms (both ends included,
    so each window ends 1 ms before the next starts)."""
    if end_ms < start_ms:
        return
    low = start_ms
    while True:
        high = min(end_ms, low + most - 1)
        yield low, high
        if high >= end_ms:
            return
        low = high + 1


class KaspiClient(JsonClient):
    """One merchant's shop. Thread-safe; reads are retried through blips, status changes not
    re-sent after an ambiguous failure (the caller reads the order again)."""

    def __init__(
        self,
        url: str | None,
        token: str | None,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_KASPI_TOKEN=token)
        super().__init__(url or DEFAULT_URL, **transport)
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> KaspiClient:
        kaspi = settings.of(KaspiSettings)
        return cls(
            kaspi.url,
            kaspi.token,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    # ------------------------------------------------------------------ transport

    def _exchange(
        self,
        method: str,
        url: str,
        body: Any,
        params: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        headers = {"X-Auth-Token": self._token, "Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        headers.update(extra_headers or {})
        response = self._send(method, url, json=body, params=params, headers=headers)
        payload = json_body(response)
        if response.status_code == 200:
            return payload, response.headers
        raise error_of(response, payload)

    # ------------------------------------------------------------------ orders

    def orders_page(
        self,
        start_ms: int,
        end_ms: int,
        state: str,
        page: int = 0,
        size: int = PAGE_SIZE,
        status: str | None = None,
    ) -> OrdersPage:
        """One page of the orders created in `[start_ms, end_ms]` (at most 14 days) in `state`."""
        if end_ms - start_ms >= MAX_WINDOW_MS:
            raise ValueError("a Kaspi creation window spans at most 14 days")
        params: dict[str, Any] = {
            "page[number]": page,
            "page[size]": min(size, PAGE_SIZE),
            "filter[orders][creationDate][$ge]": int(start_ms),
            "filter[orders][creationDate][$le]": int(end_ms),
            "filter[orders][state]": state,
        }
        if status:
            params["filter[orders][status]"] = status
        answer = self.request("GET", "/orders", params=params) or {}
        meta = answer.get("meta") or {}
        return OrdersPage(
            orders=list(answer.get("data") or []),
            page=page,
            page_count=int(meta.get("pageCount") or 0),
            total_count=int(meta.get("totalCount") or 0),
        )

    def list_orders(
        self,
        start_ms: int,
        end_ms: int,
        states: tuple[str, ...] = STATES,
        status: str | None = None,
        size: int = PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every order created in `[start_ms, end_ms]` in one of `states`, window by window
        (at most 14 days each) and page by page."""
        for low, high in windows(start_ms, end_ms):
            for state in states:
                page = 0
                while True:
                    found = self.orders_page(low, high, state, page, size, status)
                    yield from found.orders
                    if found.last:
                        break
                    page += 1

    def find_order(self, code: str) -> dict[str, Any] | None:
        """The order with this number (`code`), read fresh; None when Kaspi has none."""
        params = {"page[number]": 0, "page[size]": 1, "filter[orders][code]": str(code)}
        found = (self.request("GET", "/orders", params=params) or {}).get("data") or []
        return found[0] if found else None

    # ------------------------------------------------------------------ lines

    def entries(self, order_id: str) -> list[dict[str, Any]]:
        return list((self.request("GET", f"/orders/{order_id}/entries") or {}).get("data") or [])

    def entry_product(self, entry_id: str) -> dict[str, Any] | None:
        """Kaspi's master product of an order line (`masterproducts`)."""
        return (self.request("GET", f"/orderentries/{entry_id}/product") or {}).get("data")

    def merchant_product(self, master_id: str) -> dict[str, Any] | None:
        """The merchant's own product behind a master product: its `code` is the shop's SKU."""
        path = f"/masterproducts/{master_id}/merchantProduct"
        return (self.request("GET", path) or {}).get("data")

    def order_lines(self, order_id: str) -> list[dict[str, Any]]:
        """The order's entries, each with `sku` (the merchant's code) and `name` filled in: two
        extra calls per line, as the API has no include for them."""
        lines = []
        for entry in self.entries(order_id):
            attributes = dict(entry.get("attributes") or {})
            product = self.entry_product(str(entry["id"])) or {}
            master = dict(product.get("attributes") or {})
            merchant = self.merchant_product(str(product["id"])) if product.get("id") else None
            own = dict((merchant or {}).get("attributes") or {})
            lines.append(
                {
                    **attributes,
                    "id": entry["id"],
                    "product_id": product.get("id"),
                    "sku": own.get("code") or master.get("code"),
                    "name": own.get("name") or master.get("name"),
                }
            )
        return lines

    # ------------------------------------------------------------------ status changes

    def set_status(
        self,
        order_id: str,
        code: str,
        status: str,
        headers: Mapping[str, str] | None = None,
        **attributes: Any,
    ) -> dict[str, Any]:
        """`POST /orders` with the new status; returns the order as Kaspi answers it."""
        body = {
            "data": {
                "type": "orders",
                "id": str(order_id),
                "attributes": {"code": str(code), "status": status, **attributes},
            }
        }
        url = self.base_url + "/orders"
        answer, _ = self.retry.run(
            lambda: self._exchange("POST", url, body, None, headers), idempotent=False
        )
        return (answer or {}).get("data") or {}

    def accept(self, order_id: str, code: str) -> dict[str, Any]:
        """Accepts a new order (APPROVED_BY_BANK -> ACCEPTED_BY_MERCHANT)."""
        return self.set_status(order_id, code, "ACCEPTED_BY_MERCHANT")

    def cancel(
        self,
        order_id: str,
        code: str,
        reason: str = "BUYER_CANCELLATION_BY_MERCHANT",
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Cancels an order not yet completed; `reason` is one of Kaspi's three."""
        if reason not in CANCELLATION_REASONS:
            raise ValueError(f"cancellationReason must be one of {', '.join(CANCELLATION_REASONS)}")
        extra: dict[str, Any] = {"cancellationReason": reason}
        if comment:
            extra["cancellationComment"] = comment[:1000]
        return self.set_status(order_id, code, "CANCELLED", **extra)

    def complete(
        self, order_id: str, code: str, security_code: str | None = None
    ) -> dict[str, Any]:
        """Hands an accepted order over. Without `security_code` Kaspi sends the buyer a code in
        the Kaspi.kz app; call again with the code the buyer reads out."""
        headers = {"X-Security-Code": security_code or "", "X-Send-Code": "true"}
        return self.set_status(order_id, code, "COMPLETED", headers=headers)


def error_of(response: requests.Response, payload: Any) -> ConnectorError:
    """The typed error of a non-200 answer; the message quotes a JSON:API `errors[0]` if any."""
    status = response.status_code
    message = f"Kaspi HTTP {status}"
    errors = payload.get("errors") if isinstance(payload, Mapping) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        text = first.get("detail") or first.get("title")
        if text:
            message = f"{message}: {text}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if 200 < status < 300:  # Kaspi's rule: only 200 is success
        return PermanentError(message, status=status)
    return error_for_status(status, message, retry_after=retry_after)
