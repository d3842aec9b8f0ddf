"""Mailchimp Transactional's settings (`CONNECTOR_MANDRILL_*`), read through
`settings.of(MandrillSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class MandrillSettings(SystemSettings):
    prefix: ClassVar[str] = "mandrill"

    url: str = setting(
        "https://mandrillapp.com/api/1.0", "Mailchimp Transactional (Mandrill) API base URL."
    )
    api_key: str | None = setting(
        None,
        "Mailchimp Transactional API key (mandrillapp.com, Settings -> SMTP & API Info); the "
        "`mandrill` cascade channel is on when set.",
        secret=True,
    )
    webhook_key: str | None = setting(
        None,
        "The key Mandrill shows beside the connector's webhook (Settings -> Webhooks, column "
        "Key); it signs X-Mandrill-Signature. Webhooks are refused while it is unset.",
        secret=True,
    )
    webhook_url: str | None = setting(
        None,
        "The webhook URL exactly as entered at Mandrill (it is part of the signature), e.g. "
        "`https://connector.example.com/webhooks/mandrill`; unset: the URL the request came to.",
    )
    from_email: str | None = setting(
        None, "Sender address of cascade emails (unset: the template's own sender)."
    )
    from_name: str | None = setting(None, "Sender name of cascade emails.")
