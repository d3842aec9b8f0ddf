"""Nova Poshta (carrier) as the registry knows it (connector/systems/registry.py); its
`Carrier` is in carrier.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.novaposhta.settings import NovaPoshtaSettings
from connector.systems.registry import System, all_set

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.novaposhta import NovaPoshtaClient


def client(services: Services) -> NovaPoshtaClient:
    from connector.systems.novaposhta import NovaPoshtaClient

    return NovaPoshtaClient.from_settings(services.settings)


SYSTEM = System(
    name="novaposhta",
    title="Nova Poshta",
    settings=NovaPoshtaSettings,  # CONNECTOR_NOVAPOSHTA_* (settings.py)
    configured=all_set("novaposhta_api_key"),
    client=client,
    jobs="connector.systems.novaposhta.jobs:JOBS",
    carrier="connector.systems.novaposhta.carrier:CARRIER",
    task_handlers={"delivery.poll_novaposhta": "connector.systems.novaposhta.carrier:poll"},
)
