"""`connector setup telegram`: checks the token, registers the bot's webhook with its secret;
re-runnable (setWebhook replaces the previous one)."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.telegram.client import UPDATES, TelegramClient
from connector.systems.telegram.settings import TelegramSettings


def setup_telegram(client: TelegramClient, settings: Settings) -> list[str]:
    secret = settings.of(TelegramSettings).webhook_secret
    if not secret:
        raise ConfigError("CONNECTOR_TELEGRAM_WEBHOOK_SECRET is required for the bot's webhook")
    username = client.username()
    url = f"{settings.public_url.rstrip('/')}/webhooks/telegram"
    client.set_webhook(url, secret, UPDATES)
    return [
        f"access: ok (bot @{username})",
        f"webhook -> {url}: set, with its secret token ({', '.join(UPDATES)})",
        f"start links: https://t.me/{username}?start=<one-time token>",
    ]


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    return setup_telegram(TelegramClient.from_settings(settings), settings)
