"""Mailchimp Transactional (Mandrill) API client: send (with or without a template), search,
webhooks.

Facts (specs/mandrill/README.md): every call is `POST <base>/<group>/<method>.json` with a JSON
body that carries the API key as `key`; an answer is 200 with JSON, a refusal an HTTP error
(500 for most) whose body is `{"status": "error", "code": -1, "name": "Invalid_Key",
"message": ...}`. A send answers one result per recipient: `_id`, `email`, `status` (sent,
queued, scheduled, rejected, invalid) and `reject_reason` when rejected. `messages/search` may
be called 20 times a minute; past that it answers 429 and a retry may come 60 s after the first
of the 20.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Unpack

import requests

from connector.config import Settings
from connector.errors import AuthError, ConnectorError, PermanentError, RateLimited
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    parse_retry_after,
    require,
)
from connector.systems.mandrill.settings import MandrillSettings

DEFAULT_URL = "https://mandrillapp.com/api/1.0"
SEARCH_WAIT = 60.0  # what Mandrill says to wait after a search answered 429
SEARCH_LIMIT = 1000  # the most results one search returns
# error names that are about our credentials or account, not the message
AUTH_ERRORS = {"Invalid_Key", "PaymentRequired"}
# error names that may pass if tried again
TRANSIENT_ERRORS = {"GeneralError"}
WEBHOOK_EVENTS = (
    "send",
    "deferral",
    "hard_bounce",
    "soft_bounce",
    "open",
    "click",
    "spam",
    "unsub",
    "reject",
)


class MandrillError(PermanentError):
    """A refusal with Mandrill's error `name` as code (ValidationError, Unknown_Template...)."""


class MandrillClient(JsonClient):
    """One Mandrill account (an API key); thread-safe. Sends are never re-sent after an
    ambiguous failure (Mandrill takes no idempotency key): the channel's `find_sent` asks."""

    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_MANDRILL_API_KEY=api_key)
        super().__init__(url or DEFAULT_URL, **transport)
        self._key = api_key

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> MandrillClient:
        mandrill = settings.of(MandrillSettings)
        return cls(
            mandrill.url, mandrill.api_key, timeouts=Timeouts.from_settings(settings), **options
        )

    # ------------------------------------------------------------------ transport

    def call(self, method: str, body: Mapping[str, Any] | None = None, *, idempotent: bool) -> Any:
        """`POST /<method>.json` with the key in the body; `idempotent` says whether a blip may
        be retried (a read) or not (a send)."""
        return self.request("POST", f"/{method}.json", json=dict(body or {}), idempotent=idempotent)

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        payload = {"key": self._key, **(body or {})}
        response = self._send(method, url, json=payload, params=params)
        answer = json_body(response)
        if response.status_code == 200 and not _is_error(answer):
            return answer, response.headers
        raise self._error(response, answer)

    def _error(self, response: requests.Response, answer: Any) -> ConnectorError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RateLimited(
                "Mandrill: too many requests",
                wait=retry_after if retry_after is not None else SEARCH_WAIT,
            )
        if not _is_error(answer):  # a proxy's page, no Mandrill body: the status decides
            return error_for_status(status, f"Mandrill HTTP {status}", retry_after=retry_after)
        name = str(answer.get("name") or "Error")
        message = f"Mandrill {name}: {answer.get('message') or ''}".strip()
        if name in AUTH_ERRORS:
            return AuthError(message)
        if name in TRANSIENT_ERRORS or status in (502, 503, 504):
            return error_for_status(503, message, code=name, retry_after=retry_after)
        return MandrillError(message, code=name, status=status)

    # ------------------------------------------------------------------ calls

    def ping(self) -> str:
        return str(self.call("users/ping", idempotent=True))

    def send(
        self, message: Mapping[str, Any], *, template: str | None = None, **extra: Any
    ) -> list[dict[str, Any]]:
        """One message (`messages/send`, or `messages/send-template` with `template`); one
        result per recipient."""
        if template:
            body = {"template_name": template, "template_content": [], "message": dict(message)}
            answer = self.call("messages/send-template", body | extra, idempotent=False)
        else:
            answer = self.call(
                "messages/send", {"message": dict(message)} | extra, idempotent=False
            )
        if not isinstance(answer, list):
            raise PermanentError("Mandrill send: the answer is not a list of recipients")
        return [item for item in answer if isinstance(item, dict)]

    def search(
        self,
        query: str,
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[dict[str, Any]]:
        """`messages/search`: recently sent messages matching `query` (`email:<address>`),
        between two dates (`YYYY-MM-DD`)."""
        body: dict[str, Any] = {"query": query, "limit": max(1, min(limit, SEARCH_LIMIT))}
        if date_from:
            body["date_from"] = date_from
        if date_to:
            body["date_to"] = date_to
        answer = self.call("messages/search", body, idempotent=True)
        return [item for item in answer or [] if isinstance(item, dict)]

    def webhooks(self) -> list[dict[str, Any]]:
        return list(self.call("webhooks/list", idempotent=True) or [])

    def ensure_webhook(
        self, url: str, events: Iterable[str] = WEBHOOK_EVENTS, description: str = "connector"
    ) -> tuple[dict[str, Any], bool]:
        """The webhook to `url`, added when missing; returns (webhook, created). Its `auth_key`
        is CONNECTOR_MANDRILL_WEBHOOK_KEY."""
        for hook in self.webhooks():
            if hook.get("url") == url:
                return hook, False
        body = {"url": url, "description": description, "events": list(events)}
        return dict(self.call("webhooks/add", body, idempotent=False)), True


def _is_error(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("status") == "error"
