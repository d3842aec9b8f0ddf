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

    # -- the price list Kaspi fetches (connector/systems/kaspi/feed.py, docs/catalogue.md) --
    feed_token: str | None = setting(
        None,
        "Secret path segment of the Kaspi price list: Kaspi's automatic upload fetches "
        "`{CONNECTOR_PUBLIC_URL}/feeds/kaspi/<token>.xml`; no feed is served while unset. "
        "Use 32+ random characters (letters, digits, `-`, `_`).",
        secret=True,
    )
    merchant_id: str | None = setting(
        None, "Kaspi merchant id, the price list's `merchantid` (merchant cabinet)."
    )
    company: str | None = setting(
        None, "Company name in the Kaspi price list (`company`); the merchant id when unset."
    )
