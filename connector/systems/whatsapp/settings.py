"""WhatsApp Cloud API settings (`CONNECTOR_WHATSAPP_*`), read through
`settings.of(WhatsAppSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class WhatsAppSettings(SystemSettings):
    prefix: ClassVar[str] = "whatsapp"

    url: str = setting("https://graph.facebook.com", "Graph API base URL.")
    api_version: str = setting("v21.0", "Graph API version in the path (v21.0).")
    phone_number_id: str | None = setting(
        None, "ID of the business phone number that sends (WhatsApp Manager, API Setup)."
    )
    access_token: str | None = setting(
        None,
        "Access token of a system user with whatsapp_business_messaging; the WhatsApp "
        "channel is on when it and the phone number ID are set.",
        secret=True,
    )
    app_secret: str | None = setting(
        None,
        "The Meta app's secret (App settings, Basic): signs the webhook POSTs "
        "(X-Hub-Signature-256).",
        secret=True,
    )
    verify_token: str | None = setting(
        None,
        "Any string of yours, typed into the app's webhook settings too: Meta's subscription "
        "handshake (hub.verify_token) must carry it.",
        secret=True,
    )
    language: str = setting(
        "ru", "Template language code when a step names none (ru, kk, en_US...)."
    )
    stop_words: str = setting(
        "STOP,СТОП,ОТПИСАТЬСЯ,UNSUBSCRIBE",
        "Comma-separated replies (any case) that opt the number out of WhatsApp messages.",
    )
    start_words: str = setting(
        "START,СТАРТ", "Comma-separated replies (any case) that opt the number back in."
    )
