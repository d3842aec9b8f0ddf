"""`connector setup whatsapp`: checks the token and the sending number, and says what to type
into the Meta app's webhook settings (Meta has no API call for an app's own webhook URL that a
system user token may use, so it is set in the App Dashboard: WhatsApp, Configuration)."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.whatsapp.client import WhatsAppClient
from connector.systems.whatsapp.settings import WhatsAppSettings


def setup_whatsapp(client: WhatsAppClient, settings: Settings) -> list[str]:
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
    return [
        f"access: ok (sending number {shown}, {number.get('verified_name') or 'no name'}, "
        f"quality {quality})",
        f"webhook: in the Meta app set Callback URL {url} and the verify token of "
        "CONNECTOR_WHATSAPP_VERIFY_TOKEN, then subscribe the field 'messages'",
    ]


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    return setup_whatsapp(WhatsAppClient.from_settings(settings), settings)
