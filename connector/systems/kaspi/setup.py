"""`connector setup kaspi`: checks the token and says how orders will be taken; re-runnable.

Kaspi has no webhooks and nothing to register: setup reads the new orders of the last 14 days
(one page of one), which proves the token, and states the rules in force.
"""

from __future__ import annotations

import time
from typing import Any

from connector.config import Settings
from connector.systems.kaspi.client import MAX_WINDOW_MS, KaspiClient
from connector.systems.kaspi.settings import KaspiSettings

WAITING = ("NEW", "APPROVED_BY_BANK")  # state, status: orders the merchant must accept


def setup_kaspi(client: KaspiClient, settings: Settings, now: float | None = None) -> list[str]:
    end = int((time.time() if now is None else now) * 1000)
    state, status = WAITING
    page = client.orders_page(end - MAX_WINDOW_MS + 1, end, state, 0, 1, status)
    kaspi = settings.of(KaspiSettings)
    accept = "on" if kaspi.auto_accept else "off (CONNECTOR_KASPI_AUTO_ACCEPT)"
    return [
        f"access: ok ({page.total_count} new orders waiting for acceptance, last 14 days)",
        f"automatic acceptance of new orders: {accept}",
        f"orders polled every {kaspi.poll_minutes:g} minutes (Kaspi sends no webhooks)",
    ]


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    return setup_kaspi(KaspiClient.from_settings(settings), settings)
