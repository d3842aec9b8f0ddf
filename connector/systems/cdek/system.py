"""CDEK (carrier) as the registry knows it (connector/systems/registry.py); its
`Carrier` is in carrier.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.cdek.settings import CdekSettings
from connector.systems.registry import System, all_set

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.cdek import CdekClient


def client(services: Services) -> CdekClient:
    from connector.systems.cdek import CdekClient

    return CdekClient.from_settings(services.settings)


SYSTEM = System(
    name="cdek",
    title="CDEK",
    settings=CdekSettings,  # CONNECTOR_CDEK_* (settings.py)
    configured=all_set("cdek_client_id"),
    client=client,
    blueprint="connector.systems.cdek.routes:blueprint",  # its webhook route
    jobs="connector.systems.cdek.jobs:JOBS",
    setup="connector.systems.cdek.setup:run_setup",
    carrier="connector.systems.cdek.carrier:CARRIER",
    task_handlers={
        "cdek.status": "connector.systems.cdek.carrier:status_webhook",
        "delivery.poll_cdek": "connector.systems.cdek.carrier:poll",
    },
)
