"""Twilio's settings (`CONNECTOR_TWILIO_*`), read through `settings.of(TwilioSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class TwilioSettings(SystemSettings):
    prefix: ClassVar[str] = "twilio"

    url: str = setting("https://api.twilio.com", "Twilio REST API base URL.")
    account_sid: str | None = setting(
        None, "Twilio Account SID (`AC...`, Console -> Account info); the channel is on with it."
    )
    auth_token: str | None = setting(
        None,
        "Twilio auth token (Console -> Account info): authenticates the API calls and signs "
        "Twilio's webhooks (X-Twilio-Signature).",
        secret=True,
    )
    from_number: str | None = setting(
        None, "Sender of cascade SMS: a Twilio number in E.164 (`From`)."
    )
    messaging_service_sid: str | None = setting(
        None, "A Messaging Service (`MG...`) to send from instead of CONNECTOR_TWILIO_FROM_NUMBER."
    )
    webhook_base_url: str | None = setting(
        None,
        "The base URL Twilio calls for the connector's webhooks, exactly as Twilio sees it (it "
        "is part of the signature); unset: CONNECTOR_PUBLIC_URL.",
    )
