"""`connector setup smsru`: checks the api_id (the balance), registers the status callback URL
(`callback/add`, the API twin of the cabinet's setting); re-runnable."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.smsru.client import SmsruClient
from connector.systems.smsru.settings import SmsruSettings


def callback_url(settings: Settings) -> str:
    secret = settings.of(SmsruSettings).webhook_secret
    if not secret:
        raise ConfigError(
            "CONNECTOR_SMSRU_WEBHOOK_SECRET is required for SMS.ru's status callbacks"
        )
    return f"{settings.public_url.rstrip('/')}/webhooks/smsru/{secret}"


def setup_smsru(client: SmsruClient, settings: Settings) -> list[str]:
    balance = client.balance()
    url = callback_url(settings)
    held = client.callbacks()
    if url not in held:
        client.add_callback(url)
    shown = url.rsplit("/", 1)[0] + "/***"
    return [
        f"access: ok (balance {balance:.2f} RUB)",
        f"status callback -> {shown}: {'exists' if url in held else 'added'}",
        "inbound SMS: none on SMS.ru numbers (no STOP replies): see docs/channels.md",
    ]


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    return setup_smsru(SmsruClient.from_settings(settings), settings)
