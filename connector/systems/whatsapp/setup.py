"""`connector setup whatsapp`: checks the token and the sending number, and says what to type
into the Meta app's webhook settings (Meta has no API call for an app's own webhook URL that a
system user token may use, so it is set in the App Dashboard: WhatsApp, Configuration). Against
the sandbox (`--sandbox`, or an emulator on loopback) it is done through the emulator's
control API, which runs Meta's handshake against the connector as the dashboard does."""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.whatsapp.client import WhatsAppClient
from connector.systems.whatsapp.settings import WhatsAppSettings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def setup_whatsapp(
    client: WhatsAppClient, settings: Settings, sandbox: bool | None = None
) -> list[str]:
    whatsapp = settings.of(WhatsAppSettings)
    missing = [
        name
        for name, value in (
            ("CONNECTOR_WHATSAPP_APP_SECRET", whatsapp.app_secret),
            ("CONNECTOR_WHATSAPP_VERIFY_TOKEN", whatsapp.verify_token),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"{' and '.join(missing)} required for WhatsApp's webhook")
    number = client.phone_number()
    shown = number.get("display_phone_number") or whatsapp.phone_number_id
    quality = number.get("quality_rating") or "unknown"
    url = f"{settings.public_url.rstrip('/')}/webhooks/whatsapp"
    lines = [
        f"access: ok (sending number {shown}, {number.get('verified_name') or 'no name'}, "
        f"quality {quality})"
    ]
    host = urllib.parse.urlsplit(whatsapp.url).hostname or ""
    if sandbox or (sandbox is None and host in LOOPBACK):
        lines.append(_sandbox_webhook(whatsapp.url, url, str(whatsapp.verify_token)))
    else:
        lines.append(
            f"webhook: in the Meta app set Callback URL {url} and the verify token of "
            "CONNECTOR_WHATSAPP_VERIFY_TOKEN, then subscribe the field 'messages'"
        )
    return lines


def _sandbox_webhook(emulator: str, url: str, verify_token: str) -> str:
    """The emulator's App Dashboard: it runs Meta's handshake against the connector."""
    session = requests.Session()
    session.trust_env = False
    answer = session.post(
        f"{emulator.rstrip('/')}/_sandbox/webhook",
        json={"url": url, "verify_token": verify_token},
        timeout=30,
    )
    if answer.status_code != 200:
        return f"webhook -> {url}: not verified ({answer.text[:200]}); is the connector serving?"
    return f"webhook -> {url}: verified and subscribed (sandbox)"


def run_setup(settings: Settings, sandbox: bool | None = None, **_options: Any) -> list[str]:
    return setup_whatsapp(WhatsAppClient.from_settings(settings), settings, sandbox)
