"""Telegram Bot API client: `sendMessage`, `setWebhook`, `getWebhookInfo`, `getMe`.

Facts (specs/telegram/README.md): every method is `POST https://api.telegram.org/bot<token>/<method>`
with a JSON body; the answer is `{"ok": true, "result": ...}` or `{"ok": false, "error_code": n,
"description": "..."}` (with `parameters.retry_after` on 429). Typed here as the queue wants:
429 RateLimited for `retry_after` seconds, 401 (a revoked token) AuthError, 403 (blocked by the
user, user deactivated, cannot initiate) and 400 (chat not found, bad entities) PermanentError
with the code "403"/"400" and Telegram's description, 5xx and time-outs TransientError. The
token is part of the URL path, which the shared HTTP layer never prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from connector.config import Settings
from connector.errors import AuthError, ConfigError, ConnectorError, PermanentError, RateLimited
from connector.http import (
    JsonClient,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    require,
)
from connector.systems.telegram.settings import TelegramSettings

DEFAULT_URL = "https://api.telegram.org"
UPDATES = ("message", "my_chat_member")  # what the connector asks the bot's webhook for


class TelegramClient(JsonClient):
    """One bot. Thread-safe; a `sendMessage` is never re-sent after an ambiguous failure."""

    def __init__(
        self,
        url: str | None,
        token: str | None,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_TELEGRAM_BOT_TOKEN=token)
        super().__init__(f"{(url or DEFAULT_URL).rstrip('/')}/bot{token}", **transport)
        self._username: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> TelegramClient:
        telegram = settings.of(TelegramSettings)
        client = cls(
            telegram.url,
            telegram.bot_token,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )
        client._username = telegram.bot_username
        return client

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        response = self._send(method, url, json=body, params=params)
        payload = json_body(response)
        if response.status_code == 200 and isinstance(payload, Mapping) and payload.get("ok"):
            return payload.get("result"), response.headers
        raise error_of(response.status_code, payload)

    # ------------------------------------------------------------------ methods

    def send_message(
        self, chat_id: str | int, text: str, parse_mode: str | None = None
    ) -> dict[str, Any]:
        """The sent Message (`message_id`, `chat`, `date`)."""
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if parse_mode:
            body["parse_mode"] = parse_mode
        result = self.request("POST", "/sendMessage", json=body)
        return dict(result or {})

    def set_webhook(
        self, url: str, secret_token: str, allowed_updates: tuple[str, ...] = UPDATES
    ) -> bool:
        body = {"url": url, "secret_token": secret_token, "allowed_updates": list(allowed_updates)}
        return bool(self.request("POST", "/setWebhook", json=body, idempotent=True))

    def webhook_info(self) -> dict[str, Any]:
        return dict(self.request("POST", "/getWebhookInfo", idempotent=True) or {})

    def me(self) -> dict[str, Any]:
        return dict(self.request("POST", "/getMe", idempotent=True) or {})

    def username(self) -> str:
        """The bot's username (the setting, else getMe once per client)."""
        if not self._username:
            found = self.me().get("username")
            if not found:
                raise ConfigError("getMe gave no username: set CONNECTOR_TELEGRAM_BOT_USERNAME")
            self._username = str(found)
        return self._username


def error_of(status: int, payload: Any) -> ConnectorError:
    """The typed error of an answer that is not `ok`."""
    body = payload if isinstance(payload, Mapping) else {}
    code = int(body.get("error_code") or status or 0)
    description = str(body.get("description") or f"HTTP {status}")
    message = f"Telegram {code}: {description}"
    parameters = body.get("parameters") if isinstance(body.get("parameters"), Mapping) else {}
    if code == 429:
        wait = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
        return RateLimited(message, wait=float(wait) if isinstance(wait, int | float) else 1.0)
    if code == 401 or (code == 404 and status == 404):  # a revoked or mistyped token
        return AuthError(f"{message} (check CONNECTOR_TELEGRAM_BOT_TOKEN)")
    if code in (400, 403):
        return PermanentError(message, code=str(code), status=status)
    return error_for_status(status if status >= 400 else code, message, code=str(code))


def blocked(error: PermanentError) -> str | None:
    """Why a refused send means the chat is gone for good (the user blocked the bot or deleted
    the account), or None for other refusals."""
    text = str(error.args[0] if error.args else "").lower()
    if error.code != "403":
        return None
    if "blocked by the user" in text:
        return "blocked the bot"
    if "user is deactivated" in text:
        return "account deleted"
    if "kicked" in text:
        return "removed the bot"
    return None
