"""Nova Poshta API 2.0 client: tracking in batches of up to 100, waybill creation and deletion.

One endpoint, JSON-RPC-like: `{"apiKey", "modelName", "calledMethod", "methodProperties"}`; the
answer is an envelope whose `success` tells the truth, not the HTTP status; there is no push
in 2.0, so tracking is polled (research/shop_delivery_loyalty.md 4.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import requests

from connector.config import Settings, required
from connector.errors import ConfigError, PermanentError
from connector.http import (
    RetryPolicy,
    Timeouts,
    chunks,
    error_for_status,
    json_body,
    make_session,
    send,
)

TRACK_LIMIT = 100


class NovaPoshtaClient:
    """One Nova Poshta API key."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        if not url:
            raise ConfigError("CONNECTOR_NOVAPOSHTA_URL is empty")
        base = url.rstrip("/")
        self.url = base + "/" if base.endswith("/json") else base + "/v2.0/json/"
        self.api_key = api_key or ""
        self.session = session or make_session()
        self.retry = retry
        self.timeouts = timeouts

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> NovaPoshtaClient:
        from connector.systems.novaposhta.settings import NovaPoshtaSettings

        own = settings.of(NovaPoshtaSettings)
        return cls(
            own.url,
            required(own.api_key, "CONNECTOR_NOVAPOSHTA_API_KEY"),
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    def call(
        self,
        model: str,
        method: str,
        properties: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> list[Any]:
        """Runs one method; returns `data` or raises with Nova Poshta's first error code."""
        body = {
            "apiKey": self.api_key,
            "modelName": model,
            "calledMethod": method,
            "methodProperties": dict(properties or {}),
        }
        return self.retry.run(lambda: self._send(body), idempotent=idempotent)

    def _send(self, body: dict[str, Any]) -> list[Any]:
        response = send(self.session, "POST", self.url, json=body, timeout=self.timeouts.as_tuple())
        envelope = json_body(response)
        if not response.ok or not isinstance(envelope, dict):
            raise error_for_status(response.status_code, f"Nova Poshta HTTP {response.status_code}")
        if not envelope.get("success", False):
            codes = envelope.get("errorCodes") or [None]
            text = "; ".join(map(str, envelope.get("errors") or [])) or "request refused"
            raise PermanentError(f"Nova Poshta: {text}", code=codes[0] and str(codes[0]))
        return list(envelope.get("data") or [])

    def track(self, documents: Iterable[tuple[str, str | None] | str]) -> list[dict[str, Any]]:
        """Statuses of waybills (number, optional phone for full details), 100 per call."""
        items = []
        for document in documents:
            number, phone = (document, None) if isinstance(document, str) else document
            items.append({"DocumentNumber": number, "Phone": phone or ""})
        statuses: list[dict[str, Any]] = []
        for part in chunks(items, TRACK_LIMIT):
            statuses += self.call("TrackingDocument", "getStatusDocuments", {"Documents": part})
        return statuses

    def create_waybill(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """`InternetDocument.save`: returns `{Ref, IntDocNumber, CostOnSite, ...}`."""
        data = self.call("InternetDocument", "save", properties, idempotent=False)
        return data[0] if data else {}

    def delete_waybill(self, ref: str) -> list[Any]:
        """`InternetDocument.delete`: removes a waybill not yet handed over (by its `Ref`)."""
        return self.call("InternetDocument", "delete", {"DocumentRefs": ref})
