"""CDEK's settings (`CONNECTOR_CDEK_*`), read through `settings.of(CdekSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class CdekSettings(SystemSettings):
    prefix: ClassVar[str] = "cdek"

    url: str = setting("https://api.cdek.ru", "CDEK API v2 base URL.")
    client_id: str | None = setting(None, "CDEK OAuth client id.")
    client_secret: str | None = setting(None, "CDEK OAuth client secret.", secret=True)
    webhook_secret: str | None = setting(
        None, "Secret path part of the CDEK webhook URL.", secret=True
    )
