"""WhatsApp Cloud API (a cascade channel) as the registry knows it
(connector/systems/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set
from connector.systems.whatsapp.settings import WhatsAppSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.whatsapp.client import WhatsAppClient


def client(services: Services) -> WhatsAppClient:
    from connector.systems.whatsapp.client import WhatsAppClient

    return WhatsAppClient.from_settings(services.settings)


SYSTEM = System(
    name="whatsapp",
    title="WhatsApp",
    settings=WhatsAppSettings,  # CONNECTOR_WHATSAPP_* (settings.py)
    configured=all_set("whatsapp_access_token", "whatsapp_phone_number_id"),
    client=client,
    blueprint="connector.systems.whatsapp.routes:blueprint",  # statuses and replies
    task_handlers={"whatsapp.webhook": "connector.systems.whatsapp.flows:webhook"},
    setup="connector.systems.whatsapp.setup:run_setup",
    channel="connector.systems.whatsapp.channel:CHANNEL",
)
