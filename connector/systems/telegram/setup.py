"""`connector setup telegram`: checks the token, registers the bot's webhook with its secret;
re-runnable (setWebhook replaces the previous one)."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.telegram.client import UPDATES, TelegramClient
from connector.systems.telegram.settings import TelegramSettings


def setup_telegram(
    client: TelegramClient, settings: Settings, bitrix24: Any | None = None
) -> list[str]:
    secret = settings.of(TelegramSettings).webhook_secret
    if not secret:
        raise ConfigError("CONNECTOR_TELEGRAM_WEBHOOK_SECRET is required for the bot's webhook")
    username = client.username()
    url = f"{settings.public_url.rstrip('/')}/webhooks/telegram"
    client.set_webhook(url, secret, UPDATES)
    lines = [
        f"access: ok (bot @{username})",
        f"webhook -> {url}: set, with its secret token ({', '.join(UPDATES)})",
        f"start links: https://t.me/{username}?start=<one-time token>",
    ]
    field = settings.of(TelegramSettings).crm_field
    if field and bitrix24 is not None:
        from connector.systems.bitrix24.client import UserField

        wanted = UserField(field, "string", label="Telegram start link")
        created = bitrix24.ensure_user_fields("contact", [wanted])
        state = "created" if created else "exists"
        lines.append(f"Bitrix24 contact field {wanted.field_name}: {state} (start links, hourly)")
    return lines


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    bitrix24 = None
    if settings.of(TelegramSettings).crm_field and (
        settings.bitrix24_webhook_url or settings.bitrix24_client_id
    ):
        from connector.systems.bitrix24 import Bitrix24Client
        from connector.systems.bitrix24.credentials import store_token_store

        bitrix24 = Bitrix24Client.from_settings(settings, token_store=store_token_store(settings))
    return setup_telegram(TelegramClient.from_settings(settings), settings, bitrix24)
