"""WhatsApp Cloud API client: template and text messages, the phone number's own record.

Facts (specs/whatsapp/README.md): `POST {url}/{version}/{phone-number-id}/messages` with
`Authorization: Bearer <token>` and `{"messaging_product": "whatsapp", "to": "<digits>",
"type": "template", "template": {"name", "language": {"code"}, "components": [{"type": "body",
"parameters": [...]}]}}` answers `{"contacts": [{"input", "wa_id"}], "messages": [{"id":
"wamid...", "message_status": "accepted"}]}`. Errors are Graph errors, `{"error": {"message",
"type", "code", "error_data": {"details"}, "fbtrace_id"}}`, typed by `code`: 190 (token) and 10
/ 200 (permission) AuthError; 4, 80007, 130429 (throughput) and 131056 (pair rate) RateLimited;
1, 2, 131000, 131016, 133004 and HTTP 5xx TransientError; the rest (131026 undeliverable,
131047 outside the 24 h window, 131049 held back by Meta, 131050 the user stopped marketing
messages, 132000/132001 template parameters or name) PermanentError with the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from connector.config import Settings
from connector.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    json_body,
    parse_retry_after,
    require,
)
from connector.systems.whatsapp.settings import WhatsAppSettings

DEFAULT_URL = "https://graph.facebook.com"
AUTH = {190, 10, 200}
RATE = {4: 5.0, 80007: 60.0, 130429: 1.0, 131056: 60.0}  # code -> seconds when no Retry-After
TRANSIENT = {1, 2, 131000, 131016, 133004}
OPTED_OUT = 131050  # the user stopped marketing messages from this business


class WhatsAppClient(JsonClient):
    """One business phone number. Thread-safe; a send is never re-sent after an ambiguous
    failure (Meta takes no idempotency key)."""

    def __init__(
        self,
        url: str | None,
        version: str,
        phone_number_id: str | None,
        token: str | None,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_WHATSAPP_ACCESS_TOKEN=token)
        require(CONNECTOR_WHATSAPP_PHONE_NUMBER_ID=phone_number_id)
        super().__init__(f"{(url or DEFAULT_URL).rstrip('/')}/{version.strip('/')}", **transport)
        self.phone_number_id = phone_number_id
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> WhatsAppClient:
        whatsapp = settings.of(WhatsAppSettings)
        return cls(
            whatsapp.url,
            whatsapp.api_version,
            whatsapp.phone_number_id,
            whatsapp.access_token,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        headers = {"Authorization": f"Bearer {self._token}"}
        response = self._send(method, url, json=body, params=params, headers=headers)
        payload = json_body(response)
        if 200 <= response.status_code < 300 and not (
            isinstance(payload, Mapping) and "error" in payload
        ):
            return payload, response.headers
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise error_of(response.status_code, payload, retry_after)

    # ------------------------------------------------------------------ messages

    def send_template(
        self, to: str, name: str, language: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Sends template `name` to `to` (digits); returns the answer (`messages[0].id`)."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        components = template_components(variables or {})
        if components:
            template["components"] = components
        return self._message({"to": to, "type": "template", "template": template})

    def send_text(self, to: str, text: str) -> dict[str, Any]:
        """A free-form text: Meta delivers it only within 24 h of the user's last message."""
        return self._message({"to": to, "type": "text", "text": {"body": text}})

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        full = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
        answer = self.request("POST", f"/{self.phone_number_id}/messages", json=full)
        return dict(answer or {})

    def phone_number(self) -> dict[str, Any]:
        """The sending number's record (display_phone_number, verified_name, quality_rating)."""
        return dict(self.request("GET", f"/{self.phone_number_id}") or {})


def template_components(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The body component of a template's parameters: positional when the names are 1, 2, ...
    (`{{1}}`), named otherwise (`{{first_name}}`, `parameter_name`)."""
    if not variables:
        return []
    if all(str(key).isdigit() for key in variables):
        ordered = sorted(variables.items(), key=lambda item: int(item[0]))
        parameters = [{"type": "text", "text": str(value)} for _, value in ordered]
    else:
        parameters = [
            {"type": "text", "parameter_name": str(key), "text": str(value)}
            for key, value in variables.items()
        ]
    return [{"type": "body", "parameters": parameters}]


def message_id(answer: Mapping[str, Any]) -> str:
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        found = messages[0].get("id")
        if found:
            return str(found)
    raise TransientError("WhatsApp answered without a message id")


def error_of(status: int, payload: Any, retry_after: float | None = None) -> ConnectorError:
    """The typed error of a Graph API failure, by its `error.code` (see the module docstring)."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    raw_code = error.get("code")
    code = int(raw_code) if isinstance(raw_code, int) and not isinstance(raw_code, bool) else 0
    details = error.get("error_data") if isinstance(error.get("error_data"), Mapping) else {}
    text = str(error.get("message") or f"HTTP {status}")
    detail = details.get("details") if isinstance(details, Mapping) else None
    message = f"WhatsApp {code or status}: {text}" + (f" ({detail})" if detail else "")
    if code in AUTH or (not code and status == 401):
        return AuthError(f"{message} (check CONNECTOR_WHATSAPP_ACCESS_TOKEN)")
    if code in RATE or (not code and status == 429):
        wait = retry_after if retry_after is not None else RATE.get(code, 5.0)
        return RateLimited(message, wait=wait)
    if code in TRANSIENT or status >= 500:
        return TransientError(message)
    return PermanentError(message, code=str(code or status), status=status)
