"""Telegram (a cascade channel) as the registry knows it (connector/systems/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set
from connector.systems.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.telegram.client import TelegramClient


def client(services: Services) -> TelegramClient:
    from connector.systems.telegram.client import TelegramClient

    return TelegramClient.from_settings(services.settings)


SYSTEM = System(
    name="telegram",
    title="Telegram",
    settings=TelegramSettings,  # CONNECTOR_TELEGRAM_* (settings.py)
    configured=all_set("telegram_bot_token"),
    client=client,
    blueprint="connector.systems.telegram.routes:blueprint",  # the bot's updates
    task_handlers={
        "telegram.update": "connector.systems.telegram.flows:update",
        "telegram.crm_link": "connector.systems.telegram.crm:crm_link",
        "telegram.crm_links": "connector.systems.telegram.crm:crm_links",
    },
    jobs="connector.systems.telegram.jobs:JOBS",  # the start links in Bitrix24 contacts
    setup="connector.systems.telegram.setup:run_setup",
    channel="connector.systems.telegram.channel:CHANNEL",
)
