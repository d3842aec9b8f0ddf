"""Kaspi.kz as the registry knows it (connector/systems/registry.py): polled orders in, the
CRM's cancellations out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.kaspi.settings import KaspiSettings
from connector.systems.registry import System, all_set, payload_record

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.kaspi.client import KaspiClient


def client(services: Services) -> KaspiClient:
    """What the registry builds once per process (`services.client("kaspi")`)."""
    from connector.systems.kaspi.client import KaspiClient

    return KaspiClient.from_settings(services.settings)


def kaspi_client(services: Services) -> KaspiClient:
    """The process's Kaspi client (flows and streams ask here)."""
    return services.client("kaspi")


SYSTEM = System(
    name="kaspi",
    catalogue_copy="connector.catalogue.diff:rendered",  # the price-list feed (feed.py)
    title="Kaspi.kz",
    settings=KaspiSettings,  # CONNECTOR_KASPI_* (settings.py)
    configured=all_set("kaspi_token"),
    client=client,
    blueprint="connector.systems.kaspi.routes:blueprint",  # GET /feeds/kaspi/<token>.xml
    task_handlers={
        "kaspi.order": "connector.systems.kaspi.flows:kaspi_order",
        "push.kaspi.order": "connector.systems.kaspi.flows:push_kaspi_order",
    },
    streams={"orders": "connector.systems.kaspi.polling:order_stream"},
    full_sync={"orders": "connector.systems.kaspi.polling:full_order_stream"},
    polling_cursor="connector.systems.kaspi.polling:polling_cursor",
    jobs="connector.systems.kaspi.jobs:JOBS",
    setup="connector.systems.kaspi.setup:run_setup",
    receives={"order"},  # push.kaspi.order, only for orders Kaspi holds (linked_only)
    sends={"order", "customer"},
    linked_only=True,
    sales_channel=True,
    trace=payload_record("order"),  # kaspi.order {id}: the Kaspi order
    demo="connector.systems.kaspi.demo:chapter",
)
