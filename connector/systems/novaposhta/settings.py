"""Nova Poshta's settings (`CONNECTOR_NOVAPOSHTA_*`), read through
`settings.of(NovaPoshtaSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class NovaPoshtaSettings(SystemSettings):
    prefix: ClassVar[str] = "novaposhta"

    url: str = setting("https://api.novaposhta.ua", "Nova Poshta API 2.0 base URL.")
    api_key: str | None = setting(None, "Nova Poshta API key.", secret=True)
