"""Kaspi.kz's settings (`CONNECTOR_KASPI_*`), read through `settings.of(KaspiSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, boolean, positive, setting


@dataclass(frozen=True)
class KaspiSettings(SystemSettings):
    prefix: ClassVar[str] = "kaspi"

    url: str = setting("https://kaspi.kz/shop/api/v2", "Kaspi.kz merchant API base URL.")
    token: str | None = setting(
        None,
        "Kaspi.kz API token (merchant cabinet, Settings -> API); Kaspi orders are polled when set.",
        secret=True,
    )
    auto_accept: bool = setting(
        False,
        "Accept new Kaspi orders (APPROVED_BY_BANK -> ACCEPTED_BY_MERCHANT) as they are read.",
        boolean,
    )
    poll_minutes: float = setting(
        5.0, "Minutes between two polls of Kaspi orders.", positive(float)
    )
