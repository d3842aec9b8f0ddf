"""Twilio as the registry knows it (connector/systems/registry.py): an SMS channel of the
cascades, its status callbacks and STOP/START replies in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set
from connector.systems.twilio.settings import TwilioSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.twilio.client import TwilioClient


def client(services: Services) -> TwilioClient:
    """What the registry builds once per process (`services.client("twilio")`)."""
    from connector.systems.twilio.client import TwilioClient

    return TwilioClient.from_settings(services.settings)


SYSTEM = System(
    name="twilio",
    title="Twilio",
    settings=TwilioSettings,  # CONNECTOR_TWILIO_* (settings.py)
    configured=all_set("twilio_account_sid", "twilio_auth_token"),
    client=client,
    blueprint="connector.systems.twilio.routes:blueprint",  # status callbacks, replies
    task_handlers={
        "twilio.status": "connector.systems.twilio.flows:status_callback",
        "twilio.inbound": "connector.systems.twilio.flows:inbound",
    },
    setup="connector.systems.twilio.setup:run_setup",
    channel="connector.systems.twilio.channel:CHANNEL",
)
