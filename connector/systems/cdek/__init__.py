"""CDEK API v2 client: OAuth client credentials, create, read and delete orders, ORDER_STATUS
webhook.

Facts from research/shop_delivery_loyalty.md 4.1: `POST /v2/oauth/token` (form,
`grant_type=client_credentials`) gives a bearer token for ~1 hour (the official SDK renews it
10 s early); order creation is asynchronous (`entity.uuid` plus `requests[].state`, the waybill
`cdek_number` appears later in `GET /v2/orders/{uuid}`); one webhook subscription per type, and
CDEK never re-sends a failed delivery, so the poller stays the source of truth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Unpack

import requests

from connector.config import Settings, required
from connector.errors import AuthError, ConfigError, ConnectorError, PermanentError
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    none_if_not_found,
)
from connector.safe_input import BadBody, load_json

RENEW_EARLY = 10.0


class CdekClient(JsonClient):
    """One CDEK account (client id and secret)."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        **transport: Unpack[Transport],
    ) -> None:
        if not url or not client_id or not client_secret:
            raise ConfigError("CONNECTOR_CDEK_URL, _CLIENT_ID and _CLIENT_SECRET are required")
        base = url.rstrip("/")
        super().__init__(base if base.endswith("/v2") else base + "/v2", **transport)
        self.client_id = client_id
        self.client_secret = client_secret
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> CdekClient:
        from connector.systems.cdek.settings import CdekSettings

        cdek = settings.of(CdekSettings)
        return cls(
            cdek.url,
            required(cdek.client_id, "CONNECTOR_CDEK_CLIENT_ID"),
            required(cdek.client_secret, "CONNECTOR_CDEK_CLIENT_SECRET"),
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    # ------------------------------------------------------------------ auth and transport

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or not self._token or self._clock() >= self._expires_at:
                self._token, lifetime = self._request_token()
                self._expires_at = self._clock() + max(0.0, lifetime - RENEW_EARLY)
            return self._token

    def _request_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        url = self.base_url + "/oauth/token"
        response = self.retry.run(lambda: self._send("POST", url, data=form))
        payload = _json(response)
        if not response.ok or "access_token" not in payload:
            if response.status_code >= 500:
                raise error_for_status(response.status_code, "CDEK token endpoint failed")
            raise AuthError(f"CDEK refused the credentials: HTTP {response.status_code}")
        return str(payload["access_token"]), float(payload.get("expires_in") or 3599)

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """One attempt with the bearer token, renewed once when CDEK answers 401."""
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self.token(renew=renew)}"}
            response = self._send(method, url, json=body, params=params, headers=headers)
            if response.status_code != 401:
                break
        payload = _json(response)
        if response.ok:
            return payload, response.headers
        raise _error(response.status_code, payload)

    # ------------------------------------------------------------------ operations

    def create_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Registers a shipment; returns `{entity: {uuid}, requests: [{state, errors}]}`.

        An INVALID request state is raised as a permanent error with CDEK's codes.
        """
        answer = self.request("POST", "/orders", json=dict(order))
        for item in answer.get("requests", []) if isinstance(answer, dict) else []:
            if str(item.get("state", "")).upper() == "INVALID":
                raise _error(400, item)
        return answer

    def get_order(self, uuid: str) -> dict[str, Any]:
        return self.request("GET", f"/orders/{uuid}")

    def delete_order(self, uuid: str) -> dict[str, Any]:
        """Cancels a shipment not yet handed over (`DELETE /v2/orders/{uuid}`); its status then
        becomes REMOVED. A refusal (an INVALID request) is raised with CDEK's codes."""
        answer = self.request("DELETE", f"/orders/{uuid}")
        for item in answer.get("requests", []) if isinstance(answer, dict) else []:
            if str(item.get("state", "")).upper() == "INVALID":
                raise _error(400, item)
        return answer

    def find_order(self, number: str) -> dict[str, Any] | None:
        """The shipment registered under our order number (`im_number`), if any."""
        return none_if_not_found(
            lambda: self.request("GET", "/orders", params={"im_number": number})
        )

    def subscribe_webhook(self, url: str, event_type: str = "ORDER_STATUS") -> tuple[dict, bool]:
        """Subscribes `url` to `event_type` unless it is; returns (subscription, created)."""
        existing = self.request("GET", "/webhooks") or {}
        for hook in existing.get("items", []):
            if hook.get("url") == url and hook.get("type") == event_type:
                return hook, False
        body = {"url": url, "type": event_type}
        return self.request("POST", "/webhooks", json=body, idempotent=True), True


@dataclass(frozen=True)
class StatusEvent:
    """An ORDER_STATUS webhook: which shipment, which status, since when."""

    order_uuid: str
    code: str
    status_at: str
    cdek_number: str | None
    number: str | None
    is_return: bool


def parse_status_webhook(body: bytes | str) -> StatusEvent:
    """An ORDER_STATUS delivery. CDEK signs nothing: confirm with `get_order` before acting.

    A body we cannot use is a `PermanentError` naming the field; another webhook type
    (PRINT_FORM, DOWNLOAD_PHOTO) is one with code `other_type` (see `webhook_type`).
    """
    payload = _webhook_payload(body)
    if payload.get("type") != "ORDER_STATUS":
        raise PermanentError("type: not ORDER_STATUS", code="other_type")
    attributes = payload.get("attributes")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise PermanentError("attributes: not an object", code="bad_webhook")
    texts = {
        "uuid": payload.get("uuid"),
        "attributes.code": attributes.get("code"),
        "attributes.status_date_time": attributes.get("status_date_time")
        or payload.get("date_time"),
        "attributes.cdek_number": attributes.get("cdek_number"),
        "attributes.number": attributes.get("number"),
    }
    for name, value in texts.items():
        if value is not None and not _short_text(value):
            raise PermanentError(f"{name}: not a text of at most 100 characters", "bad_webhook")
    return StatusEvent(
        order_uuid=str(texts["uuid"] or ""),
        code=str(texts["attributes.code"] or ""),
        status_at=str(texts["attributes.status_date_time"] or ""),
        cdek_number=_text_or_none(texts["attributes.cdek_number"]),
        number=_text_or_none(texts["attributes.number"]),
        is_return=bool(attributes.get("is_return")),
    )


def webhook_type(body: bytes | str) -> str | None:
    """The `type` of a webhook body (ORDER_STATUS, PRINT_FORM...), or None when unreadable."""
    try:
        kind = _webhook_payload(body).get("type")
    except PermanentError:
        return None
    return kind if isinstance(kind, str) and kind and _short_text(kind) else None


def _webhook_payload(body: bytes | str) -> dict[str, Any]:
    try:
        payload = load_json(body)
    except BadBody as error:
        raise PermanentError(str(error), code="bad_webhook") from None
    if not isinstance(payload, dict):
        raise PermanentError("body: not a JSON object", code="bad_webhook")
    return payload


def _short_text(value: Any) -> bool:
    """A text, or a number CDEK may send for one (`cdek_number`), of at most 100 characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return len(str(value)) <= 100


def _text_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _json(response: requests.Response) -> dict[str, Any]:
    """CDEK answers objects; a bare list (webhooks) is wrapped as `items`, no JSON is `{}`."""
    payload = json_body(response, {})
    return payload if isinstance(payload, dict) else {"items": payload}


def _error(status: int, payload: Mapping[str, Any]) -> ConnectorError:
    """CDEK errors: `errors[{code, message}]` at the top or inside `requests[]`."""
    errors = list(payload.get("errors") or [])
    for item in payload.get("requests") or []:
        errors.extend(item.get("errors") or [])
    code = str(errors[0].get("code")) if errors else None
    message = "; ".join(str(e.get("message", e.get("code"))) for e in errors) or f"HTTP {status}"
    if status in (401, 403):
        return AuthError(f"CDEK {status}: {message}")
    if status == 429 or status >= 500:
        return error_for_status(status, f"CDEK {message}", code=code)
    return PermanentError(f"CDEK: {message}", code=code, status=status)
