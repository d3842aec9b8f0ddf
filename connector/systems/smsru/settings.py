"""SMS.ru's settings (`CONNECTOR_SMSRU_*`), read through `settings.of(SmsruSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, boolean, setting


@dataclass(frozen=True)
class SmsruSettings(SystemSettings):
    prefix: ClassVar[str] = "smsru"

    url: str = setting("https://sms.ru", "SMS.ru API base URL.")
    api_id: str | None = setting(
        None,
        "SMS.ru api_id (cabinet, Settings -> API); the SMS.ru channel is on when set.",
        secret=True,
    )
    sender: str | None = setting(
        None, "SMS.ru sender name (`from`), approved in the cabinet; SMS.ru's default if unset."
    )
    webhook_secret: str | None = setting(
        None,
        "Secret path part of the SMS.ru status callback URL "
        "(`<public url>/webhooks/smsru/<secret>`).",
        secret=True,
    )
    test: bool = setting(
        False, "Send with `test=1`: SMS.ru checks and answers but sends nothing.", boolean
    )
