"""Mailchimp Transactional (Mandrill) as the registry knows it (connector/systems/registry.py):
a cascade channel for emails that need a delivery status, and its webhook of message events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.mandrill.settings import MandrillSettings
from connector.systems.registry import System, all_set

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.mandrill.client import MandrillClient


def client(services: Services) -> MandrillClient:
    """What the registry builds once per process (`services.client("mandrill")`)."""
    from connector.systems.mandrill.client import MandrillClient

    return MandrillClient.from_settings(services.settings)


SYSTEM = System(
    name="mandrill",
    title="Mailchimp Transactional",
    settings=MandrillSettings,  # CONNECTOR_MANDRILL_* (settings.py)
    configured=all_set("mandrill_api_key"),
    client=client,
    blueprint="connector.systems.mandrill.routes:blueprint",  # message events
    task_handlers={"mandrill.events": "connector.systems.mandrill.flows:mandrill_events"},
    setup="connector.systems.mandrill.setup:run_setup",
    channel="connector.systems.mandrill.channel:CHANNEL",
)
