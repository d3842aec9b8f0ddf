"""`connector setup cdek`: subscribes the CDEK status webhook."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    from connector.systems.cdek import CdekClient
    from connector.systems.cdek.settings import CdekSettings

    secret = settings.of(CdekSettings).webhook_secret
    if not secret:
        raise ConfigError("CONNECTOR_CDEK_WEBHOOK_SECRET is required for the CDEK webhook")
    url = f"{settings.public_url.rstrip('/')}/webhooks/cdek/{secret}"
    _, created = CdekClient.from_settings(settings).subscribe_webhook(url, "ORDER_STATUS")
    shown = url.rsplit("/", 1)[0] + "/***"
    return [
        "access: ok (token issued)",
        f"ORDER_STATUS -> {shown}: {'subscribed' if created else 'exists'}",
    ]
