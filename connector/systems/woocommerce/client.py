"""WooCommerce REST v3 client: orders, customers, products, batch updates and webhook registration.

Facts from research/shop_delivery_loyalty.md section 1: HTTP Basic with the consumer key and
secret over HTTPS (query parameters when the server drops `Authorization`); `per_page` at most
100 with `X-WP-TotalPages`; only `modified_after` filters on modification (`after` is the
creation date) and needs `dates_are_gmt=true`; batches hold at most 100 objects and report
errors per item; errors are `{"code", "message", "data": {"status"}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Unpack

import requests

from connector.config import Settings
from connector.errors import AuthError, ConfigError, ConnectorError, PermanentError
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    chunks,
    error_for_status,
    json_body,
    parse_retry_after,
)

PER_PAGE = 100
BATCH_LIMIT = 100
WEBHOOK_TOPICS = (
    "order.created",
    "order.updated",
    "order.deleted",
    "customer.created",
    "customer.updated",
    "product.updated",
    # the catalogue master: a new or deleted product reaches the copies at once (docs/catalogue.md)
    "product.created",
    "product.deleted",
    # coupons become Mailchimp promo codes (connector/promo)
    "coupon.created",
    "coupon.updated",
    "coupon.deleted",
)


class WooCommerceClient(JsonClient):
    """One shop. Thread-safe; every call retried through blips where that is safe."""

    def __init__(
        self,
        url: str | None,
        key: str | None,
        secret: str | None,
        *,
        query_auth: bool = False,
        **transport: Unpack[Transport],
    ) -> None:
        if not url or not key or not secret:
            raise ConfigError("CONNECTOR_WOOCOMMERCE_URL, _KEY and _SECRET are required")
        base = url.rstrip("/")
        super().__init__(
            base if "/wp-json/" in base + "/" else base + "/wp-json/wc/v3", **transport
        )
        self._auth_params = {"consumer_key": key, "consumer_secret": secret} if query_auth else {}
        self._auth = None if query_auth else (key, secret)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> WooCommerceClient:
        return cls(
            settings.woocommerce_url,
            settings.woocommerce_key,
            settings.woocommerce_secret,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    # ------------------------------------------------------------------ transport

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        """One attempt; the keys go as query parameters when `query_auth` is on."""
        query = {**self._auth_params, **(params or {})}
        response = self._send(method, url, json=body, params=query, auth=self._auth)
        payload = json_body(response)
        if response.ok:
            return payload, response.headers
        raise _error(response, payload)

    # ------------------------------------------------------------------ orders

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self.request("GET", f"/orders/{order_id}")

    def list_orders(
        self, modified_after: datetime | str | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Orders changed after `modified_after` (UTC), oldest change first, every page."""
        return self._pages("/orders", modified_after, filters)

    def update_order(
        self,
        order_id: int,
        status: str | None = None,
        meta: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Sets the status and/or meta data (`{key: value}`) of one order."""
        return self.request("PUT", f"/orders/{order_id}", json=order_update(status, meta, fields))

    def batch_update_orders(self, updates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Updates many orders (each with `id`), 100 per call; one answer per update, in order.

        A failed item comes back as `{"id": ..., "error": {"code", "message", "data"}}` and does
        not fail the others; `item_error` turns it into a typed error.
        """
        return self._batch("/orders/batch", updates)

    # ------------------------------------------------------------------ customers, products

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        return self.request("GET", f"/customers/{customer_id}")

    def update_customer(self, customer_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/customers/{customer_id}", json=dict(fields))

    def find_customers(self, email: str) -> list[dict[str, Any]]:
        return list(self.request("GET", "/customers", params={"email": email, "role": "all"}))

    def list_customers(
        self, modified_after: datetime | str | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Customers changed after `modified_after` (all when None).

        WooCommerce's `/customers` has no date filter (woocommerce#31482), so this is a scan by id
        that keeps the rows whose `date_modified_gmt` is later.
        """
        params = {"orderby": "id", "order": "asc", "role": "all", **filters}
        since = gmt(modified_after) if modified_after is not None else None
        for row in self._pages("/customers", None, params):
            changed = str(row.get("date_modified_gmt") or row.get("date_created_gmt") or "")
            if since is None or not changed or changed > since:
                yield row

    def get_product(self, product_id: int) -> dict[str, Any]:
        return self.request("GET", f"/products/{product_id}")

    def list_products(
        self, modified_after: datetime | str | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        return self._pages("/products", modified_after, filters)

    def batch_update_products(self, updates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return self._batch("/products/batch", updates)

    # ------------------------------------------------------------------ webhooks

    def list_webhooks(self) -> list[dict[str, Any]]:
        return list(self._pages("/webhooks", None, {"orderby": "id", "order": "asc"}))

    def ensure_webhooks(
        self, delivery_url: str, secret: str, topics: Iterable[str] = WEBHOOK_TOPICS
    ) -> tuple[list[str], list[str]]:
        """Registers one webhook per topic to `delivery_url`; re-enables disabled ones.

        Returns (created topics, re-activated topics). Existing active ones are left alone.
        """
        existing = {
            hook.get("topic"): hook
            for hook in self.list_webhooks()
            if hook.get("delivery_url") == delivery_url
        }
        created, reactivated = [], []
        for topic in topics:
            hook = existing.get(topic)
            if hook is None:
                body = {
                    "name": f"connector {topic}",
                    "topic": topic,
                    "delivery_url": delivery_url,
                    "secret": secret,
                    "status": "active",
                }
                self.request("POST", "/webhooks", json=body)
                created.append(topic)
            elif hook.get("status") != "active":
                update = {"status": "active", "secret": secret}
                self.request("PUT", f"/webhooks/{hook['id']}", json=update)
                reactivated.append(topic)
        return created, reactivated

    # ------------------------------------------------------------------ helpers

    def _pages(
        self,
        path: str,
        modified_after: datetime | str | None,
        filters: Mapping[str, Any],
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"per_page": PER_PAGE, **filters}
        if modified_after is not None:
            params |= {
                "modified_after": gmt(modified_after),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
            }
        page = 1
        while True:
            rows, headers = self.request_full("GET", path, params={**params, "page": page})
            yield from rows or []
            pages = int(headers.get("X-WP-TotalPages") or 1)
            if page >= pages or not rows:
                return
            page += 1

    def _batch(self, path: str, updates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for part in chunks(updates, BATCH_LIMIT):
            body = {"update": [dict(item) for item in part]}
            answer = self.request("POST", path, json=body, idempotent=True)
            answers.extend((answer or {}).get("update", []))
        return answers


def order_update(
    status: str | None, meta: Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The body of an order update: status, `meta_data` as key/value items, other fields."""
    body = dict(fields)
    if status:
        body["status"] = status
    if meta:
        body["meta_data"] = [{"key": key, "value": value} for key, value in meta.items()]
    return body


def item_error(item: Mapping[str, Any]) -> ConnectorError | None:
    """The typed error of one batch item, or None when it succeeded."""
    error = item.get("error")
    if not isinstance(error, Mapping):
        return None
    status = (
        (error.get("data") or {}).get("status") if isinstance(error.get("data"), Mapping) else None
    )
    return _classify(int(status or 400), error)


def gmt(moment: datetime | str) -> str:
    """An ISO 8601 UTC time without offset, as `modified_after` with `dates_are_gmt` expects."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat()


def _error(response: requests.Response, payload: Any) -> ConnectorError:
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if isinstance(payload, Mapping) and response.status_code < 500:
        return _classify(response.status_code, payload, retry_after)
    return error_for_status(
        response.status_code, f"WooCommerce HTTP {response.status_code}", retry_after=retry_after
    )


def _classify(
    status: int, payload: Mapping[str, Any], retry_after: float | None = None
) -> ConnectorError:
    code = str(payload.get("code") or "")
    message = str(payload.get("message") or code or f"HTTP {status}")
    if status in (401, 403) or code in {"woocommerce_rest_authentication_error"}:
        return AuthError(f"WooCommerce {status} [{code}] {message}")
    if status == 429 or status >= 500:
        return error_for_status(status, message, code=code, retry_after=retry_after)
    return PermanentError(message, code=code or None, status=status)
