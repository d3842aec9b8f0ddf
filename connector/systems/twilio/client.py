"""Twilio REST client: send an SMS, list the messages sent to a number, fetch one.

Facts (specs/twilio/README.md): `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, a form
of `To`, `From` (or `MessagingServiceSid`), `Body`, `StatusCallback`, HTTP Basic auth with the
account SID and auth token; 201 with the Message resource (`sid` SM..., `status` queued). Errors
are JSON `{"code", "message", "more_info", "status"}`, typed here (`error_of`): 401/20003 ->
AuthError; 429/20429 -> RateLimited (not processed, safe to send again); 21610 (the recipient
replied STOP) -> `Unsubscribed`, a PermanentError the channel records as an opt-out; 21211 (not a
valid To), 21612, 21614 and the other 4xx -> PermanentError with Twilio's code; 5xx ->
TransientError. Listing: `GET Messages.json?To=...&DateSent>=...&PageSize=...`, newest first,
`next_page_uri` to page on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import requests

from connector.config import Settings
from connector.errors import ConfigError, ConnectorError, PermanentError, RateLimited
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    parse_retry_after,
    require,
)
from connector.systems.twilio.settings import TwilioSettings

DEFAULT_URL = "https://api.twilio.com"
API = "/2010-04-01"
PAGE_SIZE = 50
MAX_PAGES = 20
UNSUBSCRIBED = 21610
RATE_CODES = {20429, 14107}


class Unsubscribed(PermanentError):
    """Twilio refused: the recipient replied STOP to this sender (code 21610)."""


def error_of(response: requests.Response, payload: Any) -> ConnectorError:
    """The typed error of a Twilio answer that is no success."""
    status = response.status_code
    code: int | None = None
    message = f"Twilio HTTP {status}"
    if isinstance(payload, Mapping):
        raw = payload.get("code")
        code = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        if payload.get("message"):
            message = f"Twilio {code or status}: {payload['message']}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429 or code in RATE_CODES:
        return RateLimited(message, wait=retry_after if retry_after is not None else 1.0)
    if code == UNSUBSCRIBED:
        return Unsubscribed(message, code=str(code), status=status)
    return error_for_status(
        status, message, code=str(code) if code else None, retry_after=retry_after
    )


class TwilioClient(JsonClient):
    """One Twilio account. Thread-safe; a send is never re-sent after an ambiguous failure."""

    def __init__(
        self,
        url: str | None,
        account_sid: str | None,
        auth_token: str | None,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_TWILIO_ACCOUNT_SID=account_sid, CONNECTOR_TWILIO_AUTH_TOKEN=auth_token)
        if not from_number and not messaging_service_sid:
            raise ConfigError(
                "CONNECTOR_TWILIO_FROM_NUMBER or CONNECTOR_TWILIO_MESSAGING_SERVICE_SID is required"
            )
        root = (url or DEFAULT_URL).rstrip("/")
        super().__init__(f"{root}{API}/Accounts/{account_sid}", **transport)
        self.root = root
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> TwilioClient:
        twilio = settings.of(TwilioSettings)
        return cls(
            twilio.url,
            twilio.account_sid,
            twilio.auth_token,
            from_number=twilio.from_number,
            messaging_service_sid=twilio.messaging_service_sid,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    # ------------------------------------------------------------------ transport

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        response = self._send(method, url, data=body, params=params, auth=self._auth)
        payload = json_body(response)
        if 200 <= response.status_code < 300:
            return payload, response.headers
        raise error_of(response, payload)

    # ------------------------------------------------------------------ messages

    def send(self, to: str, body: str, status_callback: str | None = None) -> dict[str, Any]:
        """`POST Messages.json`: the Message resource Twilio made (`sid`, `status`)."""
        form: dict[str, str] = {"To": to, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = str(self.from_number)
        if status_callback:
            form["StatusCallback"] = status_callback
        answer = self.request("POST", "/Messages.json", json=form)
        if not isinstance(answer, Mapping) or not answer.get("sid"):
            raise PermanentError("Twilio answered the send without a message sid", code="no_sid")
        return dict(answer)

    def messages_to(
        self, to: str, since: dt.datetime, page_size: int = PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """The messages sent to `to` since `since` (Twilio filters by day and time sent),
        newest first, page after page."""
        params: dict[str, Any] | None = {
            "To": to,
            "DateSent>": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PageSize": page_size,
        }
        url = self.base_url + "/Messages.json"
        for _ in range(MAX_PAGES):
            answer = self._page(url, params)
            yield from (answer or {}).get("messages") or []
            following = (answer or {}).get("next_page_uri")
            if not following:
                return
            url, params = self.root + str(following), None

    def _page(self, url: str, params: Mapping[str, Any] | None) -> Any:
        """One page of a listing (a GET: retried through blips)."""
        answer, _headers = self.retry.run(lambda: self._exchange("GET", url, None, params))
        return answer

    def message(self, sid: str) -> dict[str, Any]:
        """`GET Messages/{sid}.json`."""
        return dict(self.request("GET", f"/Messages/{sid}.json") or {})
