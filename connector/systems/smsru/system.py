"""SMS.ru as the registry knows it (connector/systems/registry.py): an SMS channel of the
cascades, its status callbacks in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set
from connector.systems.smsru.settings import SmsruSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.smsru.client import SmsruClient


def client(services: Services) -> SmsruClient:
    """What the registry builds once per process (`services.client("smsru")`)."""
    from connector.systems.smsru.client import SmsruClient

    return SmsruClient.from_settings(services.settings)


SYSTEM = System(
    name="smsru",
    title="SMS.ru",
    settings=SmsruSettings,  # CONNECTOR_SMSRU_* (settings.py)
    configured=all_set("smsru_api_id"),
    client=client,
    blueprint="connector.systems.smsru.routes:blueprint",  # status callbacks
    task_handlers={
        "smsru.status": "connector.systems.smsru.flows:status_callback",
        "smsru.poll": "connector.systems.smsru.flows:poll_statuses",
    },
    jobs="connector.systems.smsru.jobs:JOBS",  # the status poll, a backstop for callbacks
    setup="connector.systems.smsru.setup:run_setup",
    channel="connector.systems.smsru.channel:CHANNEL",
)
