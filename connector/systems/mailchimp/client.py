"""Mailchimp Marketing API v3 client: members, tags, events, the e-commerce store, setup reads.

Rules from research/mailchimp.md: the data centre is the API key's suffix (1); members are
upserted by `PUT .../members/{md5(lower(email))}` with `status_if_new` (2), a POST that answers
"Member Exists" becomes that PUT; carts, orders, products have no PUT in the spec, so they are
upserted as PATCH and, on 404, POST (3); at most 10 connections per user (6, we default to 4);
errors are `application/problem+json` and decided by `status` + `title` (7): compliance state,
forgotten e-mail and invalid resource are permanent and never retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connector.config import Settings
from connector.errors import AuthError, ConfigError, ConnectorError, PermanentError
from connector.http import (
    ConcurrencyLimit,
    JsonClient,
    RetryPolicy,
    Timeouts,
    error_for_status,
    json_body,
    make_session,
    none_if_not_found,
    parse_retry_after,
)

MAX_CONNECTIONS = 10
PAGE_COUNT = 1000  # the most items one list request returns
MEMBER_EXISTS = "Member Exists"
NOT_RETRIED_TITLES = {
    "Member In Compliance State",
    "Forgotten Email Not Subscribed",
    "Invalid Resource",
    MEMBER_EXISTS,
    "Customer Was Not Saved",
}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


def base_url_from_key(api_key: str) -> str:
    """`https://<dc>.api.mailchimp.com/3.0` from a key ending in `-<dc>`."""
    if not api_key or "-" not in api_key:
        raise ConfigError("CONNECTOR_MAILCHIMP_API_KEY must end with the data centre, e.g. -us6")
    return f"https://{api_key.rsplit('-', 1)[1]}.api.mailchimp.com/3.0"


@dataclass(frozen=True)
class MergeField:
    """An audience field the mappings fill: `tag` like `PHONE`, `type` like `text` or `birthday`."""

    tag: str
    name: str | None = None
    type: str = "text"
    options: Mapping[str, Any] | None = None


class MailchimpError(PermanentError):
    """A refusal with Mailchimp's `title` as code and the field errors of an Invalid Resource.

    The text ends with the `errors` array (`field: message` each), which the `detail` of an
    Invalid Resource only points to ("see the 'errors' array").
    """

    def __init__(self, message: str, code: str, status: int, errors: list | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.errors = errors if isinstance(errors, list) else []

    def __str__(self) -> str:
        listed = "; ".join(filter(None, (field_error(item) for item in self.errors)))
        return f"{super().__str__()} errors: {listed}" if listed else super().__str__()


def field_error(item: Any) -> str:
    """One entry of Mailchimp's `errors` array as `field: message` (the field may be empty)."""
    if not isinstance(item, Mapping):
        return str(item)
    field, message = str(item.get("field") or ""), str(item.get("message") or "")
    return f"{field}: {message}" if field and message else field or message


class MailchimpClient(JsonClient):
    """One Mailchimp account (an API key); thread-safe, `max_connections` requests at most."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(read=120.0),
        max_connections: int = 4,
        busy_wait: float = 2.0,
    ) -> None:
        if not api_key:
            raise ConfigError("CONNECTOR_MAILCHIMP_API_KEY is empty")
        super().__init__(
            (base_url or base_url_from_key(api_key)).rstrip("/"),
            session=session or make_session(pool_size=max_connections),
            retry=retry,
            timeouts=timeouts,
        )
        self._auth = ("connector", api_key)
        self.connections = ConcurrencyLimit(min(max_connections, MAX_CONNECTIONS))
        self.busy_wait = busy_wait

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> MailchimpClient:
        timeout = Timeouts.from_settings(settings).read
        return cls(
            settings.mailchimp_api_key,
            base_url=getattr(settings, "mailchimp_base_url", None),
            timeouts=Timeouts(read=max(timeout, 30.0)),
            **{"max_connections": getattr(settings, "mailchimp_connections", 4), **options},
        )

    # ------------------------------------------------------------------ transport

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        """One attempt inside a connection slot; None for 204 or an empty body."""
        with self.connections.slot():
            response = self._send(method, url, json=body, params=params, auth=self._auth)
        if response.status_code == 204 or (response.ok and not response.content):
            return None, response.headers
        if response.ok:
            return json_body(response, response.text), response.headers
        raise self._error(response)

    def _error(self, response: requests.Response) -> ConnectorError:
        status = response.status_code
        problem = json_body(response)
        problem = problem if isinstance(problem, dict) else {}
        title = str(problem.get("title") or response.reason or "")
        detail = str(problem.get("detail") or "")
        message = f"{title}: {detail}" if detail else title or f"HTTP {status}"
        if title in NOT_RETRIED_TITLES or (400 <= status < 500 and status not in (401, 403, 429)):
            return MailchimpError(message, code=title, status=status, errors=problem.get("errors"))
        if status in (401, 403):
            return AuthError(f"Mailchimp {status}: {message}")
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 and retry_after is None:
            retry_after = self.busy_wait  # undocumented: a connection slot frees within seconds
        return error_for_status(status, f"Mailchimp {message}", code=title, retry_after=retry_after)

    # ------------------------------------------------------------------ members

    def ping(self) -> dict[str, Any]:
        return self.request("GET", "/ping")

    def get_member(self, list_id: str, email: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/lists/{list_id}/members/{subscriber_hash(email)}")

    def upsert_member(
        self,
        list_id: str,
        email: str,
        fields: Mapping[str, Any] | None = None,
        status_if_new: str = "transactional",
        *,
        status: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Creates or updates a member; `status_if_new` only applies to a new one.

        Pass `status` only on a consented change: re-subscribing someone who unsubscribed
        raises the permanent "Member In Compliance State".
        """
        body: dict[str, Any] = {"email_address": email.strip(), "status_if_new": status_if_new}
        if fields:
            body["merge_fields"] = dict(fields)
        if status:
            body["status"] = status
        body.update(extra)
        return self.request("PUT", f"/lists/{list_id}/members/{subscriber_hash(email)}", json=body)

    def add_member(
        self,
        list_id: str,
        email: str,
        fields: Mapping[str, Any] | None = None,
        status: str = "pending",
    ) -> dict[str, Any]:
        """POST a new member; when Mailchimp says "Member Exists" it becomes an update."""
        body: dict[str, Any] = {"email_address": email.strip(), "status": status}
        if fields:
            body["merge_fields"] = dict(fields)
        try:
            return self.request("POST", f"/lists/{list_id}/members", json=body)
        except PermanentError as error:
            if error.code != MEMBER_EXISTS:
                raise
        return self.upsert_member(list_id, email, fields, status_if_new=status)

    def change_member_email(self, list_id: str, old_email: str, new_email: str) -> dict[str, Any]:
        """An address change is a PATCH on the old hash (a PUT would create a second member)."""
        path = f"/lists/{list_id}/members/{subscriber_hash(old_email)}"
        return self.request("PATCH", path, json={"email_address": new_email.strip()})

    def archive_member(self, list_id: str, email: str) -> None:
        self._delete_if_present(f"/lists/{list_id}/members/{subscriber_hash(email)}")

    def update_member_tags(
        self,
        list_id: str,
        email: str,
        active: Iterable[str] = (),
        inactive: Iterable[str] = (),
        *,
        is_syncing: bool = False,
    ) -> None:
        """Adds `active` and removes `inactive` tags; tags not named stay as they are."""
        tags = [{"name": name, "status": "active"} for name in active]
        tags += [{"name": name, "status": "inactive"} for name in inactive]
        if not tags:
            return
        path = f"/lists/{list_id}/members/{subscriber_hash(email)}/tags"
        body = {"tags": tags, "is_syncing": is_syncing}
        self.request("POST", path, json=body, idempotent=True)

    def add_member_event(
        self,
        list_id: str,
        email: str,
        name: str,
        properties: Mapping[str, Any] | None = None,
        *,
        occurred_at: str | None = None,
        is_syncing: bool = False,
    ) -> None:
        """Records a custom event (2-30 chars, string properties) that journeys can start on."""
        body: dict[str, Any] = {"name": name, "is_syncing": is_syncing}
        if properties:
            body["properties"] = {key: str(value) for key, value in properties.items()}
        if occurred_at:
            body["occurred_at"] = occurred_at
        self.request("POST", f"/lists/{list_id}/members/{subscriber_hash(email)}/events", json=body)

    def member_events(self, list_id: str, email: str) -> Iterator[dict[str, Any]]:
        """The member's events (`name`, `properties`, `occurred_at`), page by page."""
        path = f"/lists/{list_id}/members/{subscriber_hash(email)}/events"
        return self._paged(path, "events", (), PAGE_COUNT)

    # ------------------------------------------------------------------ e-commerce

    def get_store(self, store_id: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/ecommerce/stores/{store_id}")

    def ensure_store(
        self, store_id: str, list_id: str, name: str, currency_code: str, **extra: Any
    ) -> tuple[dict[str, Any], bool]:
        """The store, created when missing; returns (store, created)."""
        found = self.get_store(store_id)
        if found is not None:
            return found, False
        body = {
            "id": store_id,
            "list_id": list_id,
            "name": name,
            "currency_code": currency_code,
            **extra,
        }
        return self.request("POST", "/ecommerce/stores", json=body), True

    def set_store_syncing(self, store_id: str, is_syncing: bool) -> None:
        """`is_syncing` pauses the store's automations during a backfill."""
        self.request("PATCH", f"/ecommerce/stores/{store_id}", json={"is_syncing": is_syncing})

    def upsert_customer(self, store_id: str, customer: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/ecommerce/stores/{store_id}/customers/{customer['id']}"
        return self.request("PUT", path, json=dict(customer))

    def upsert_product(self, store_id: str, product: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the product, creating it when missing; variants are upserted one by one."""
        products = f"/ecommerce/stores/{store_id}/products"
        result, created = self._patch_or_post(products, product, leave_out=("id", "variants"))
        if not created:  # a new product was posted with its variants
            for variant in product.get("variants") or []:
                path = f"{products}/{product['id']}/variants/{variant['id']}"
                self.request("PUT", path, json=dict(variant))
        return result

    def upsert_cart(self, store_id: str, cart: Mapping[str, Any]) -> dict[str, Any]:
        return self._patch_or_post(f"/ecommerce/stores/{store_id}/carts", cart)[0]

    def delete_cart(self, store_id: str, cart_id: str) -> None:
        """Removes a cart (bought or emptied) so its abandoned-cart email is not sent."""
        self._delete_if_present(f"/ecommerce/stores/{store_id}/carts/{cart_id}")

    def upsert_order(self, store_id: str, order: Mapping[str, Any]) -> dict[str, Any]:
        return self._patch_or_post(f"/ecommerce/stores/{store_id}/orders", order)[0]

    def upsert_promo_rule(self, store_id: str, rule: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the promo rule, POST it on 404 (connector/promo)."""
        return self._patch_or_post(f"/ecommerce/stores/{store_id}/promo-rules", rule)[0]

    def upsert_promo_code(
        self, store_id: str, rule_id: str, code: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PATCH the rule's promo code, POST it on 404."""
        codes = f"/ecommerce/stores/{store_id}/promo-rules/{rule_id}/promo-codes"
        return self._patch_or_post(codes, code)[0]

    def list_orders(
        self, store_id: str, fields: Iterable[str] = (), count: int = PAGE_COUNT
    ) -> Iterator[dict[str, Any]]:
        """Every order of the store, page by page (`count`/`offset`); `fields` such as
        `("id", "order_total")` keep the answers small."""
        return self._paged(f"/ecommerce/stores/{store_id}/orders", "orders", fields, count)

    def list_members(
        self,
        list_id: str,
        fields: Iterable[str] = (),
        status: str | None = None,
        count: int = PAGE_COUNT,
    ) -> Iterator[dict[str, Any]]:
        """Every member of the audience (archived ones only with `status="archived"`), page by
        page; `fields` such as `("email_address",)` keep the answers small."""
        extra = {"status": status} if status else {}
        return self._paged(f"/lists/{list_id}/members", "members", fields, count, extra)

    def _paged(
        self,
        path: str,
        name: str,
        fields: Iterable[str],
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The items of a collection by `count`/`offset` (count at most 1,000)."""
        params: dict[str, Any] = {"count": max(1, min(count, PAGE_COUNT)), **(extra or {})}
        wanted = list(fields)
        if wanted:
            params["fields"] = ",".join([f"{name}.{f}" for f in wanted] + ["total_items"])
        offset = 0
        while True:
            answer = self.request("GET", path, params={**params, "offset": offset}) or {}
            items = list(answer.get(name) or [])
            yield from items
            offset += len(items)
            if len(items) < params["count"] or offset >= int(answer.get("total_items") or 0):
                return

    def _patch_or_post(
        self, collection: str, item: Mapping[str, Any], leave_out: tuple[str, ...] = ("id",)
    ) -> tuple[dict[str, Any], bool]:
        """PATCH the item, or POST it whole on 404 (the spec has no PUT); (answer, created)."""
        update = {key: value for key, value in item.items() if key not in leave_out}
        try:
            return self.request("PATCH", f"{collection}/{item['id']}", json=update), False
        except PermanentError as error:
            if error.status != 404:
                raise
        return self.request("POST", collection, json=dict(item)), True

    # ------------------------------------------------------------------ setup reads and writes

    def merge_fields(self, list_id: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"/lists/{list_id}/merge-fields", params={"count": 1000})
        return list((answer or {}).get("merge_fields", []))

    def ensure_merge_fields(self, list_id: str, wanted: Iterable[MergeField]) -> list[str]:
        """Creates the audience fields missing by tag; returns the tags created."""
        have = {str(field.get("tag", "")).upper() for field in self.merge_fields(list_id)}
        created = []
        for field in wanted:
            if field.tag.upper() in have:
                continue
            body: dict[str, Any] = {
                "tag": field.tag.upper(),
                "name": field.name or field.tag.title(),
                "type": field.type,
            }
            if field.options:
                body["options"] = dict(field.options)
            elif field.type == "phone":  # the US default refuses every other country's numbers
                body["options"] = {"phone_format": "International"}
            self.request("POST", f"/lists/{list_id}/merge-fields", json=body)
            have.add(field.tag.upper())
            created.append(field.tag.upper())
        return created

    def ensure_webhook(self, list_id: str, url: str) -> tuple[dict[str, Any], bool]:
        """The audience webhook to `url`, registered when missing; our API writes are skipped."""
        answer = self.request("GET", f"/lists/{list_id}/webhooks") or {}
        for hook in answer.get("webhooks", []):
            if hook.get("url") == url:
                return hook, False
        body = {
            "url": url,
            "events": {
                "subscribe": True,
                "unsubscribe": True,
                "profile": True,
                "cleaned": True,
                "upemail": True,
                "campaign": False,
            },
            "sources": {"user": True, "admin": True, "api": False},
        }
        return self.request("POST", f"/lists/{list_id}/webhooks", json=body), True

    def run_batch(self, operations: Iterable[Any], **options: Any) -> list[Any]:
        """Bulk import through `/batches`, polled to the end; one `OperationResult` each."""
        from connector.systems.mailchimp.batch import run_batch

        return run_batch(self, operations, **options)

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        return none_if_not_found(lambda: self.request("GET", path))

    def _delete_if_present(self, path: str) -> None:
        """A DELETE of what is already gone has done its job."""
        none_if_not_found(lambda: self.request("DELETE", path))
