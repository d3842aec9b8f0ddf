"""Bitrix24 CRM as the registry knows it (connector/systems/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.systems.registry import System, any_set

if TYPE_CHECKING:
    from connector.services import Services
    from connector.sync.streams import Stream
    from connector.systems.bitrix24.client import Bitrix24Client


def client(services: Services) -> Bitrix24Client:
    from connector.systems.bitrix24.client import Bitrix24Client
    from connector.systems.bitrix24.credentials import TableTokenStore

    return Bitrix24Client.from_settings(
        services.settings, token_store=TableTokenStore(services.engine), engine=services.engine
    )


def modified_scan(entity: str) -> Any:
    """A polled stream of the deals or contacts modified since the cursor."""

    def build(services: Services, options: dict[str, Any]) -> Stream:
        from connector.sync import bitrix24

        return bitrix24.ModifiedScan(services.bitrix24, entity, **options)

    return build


def offline_events(services: Services, options: dict[str, Any]) -> Stream:
    """The app connection's offline event queue (event.offline.get)."""
    from connector.sync import bitrix24

    return bitrix24.OfflineEvents(services.bitrix24)


def full(entity: str) -> Any:
    """`connector sync --full` of contacts or deals: the modified-date scan over everything."""

    def build(services: Services, since: Any) -> Any:
        from connector.sync import bitrix24

        everything = since is None
        return bitrix24.ModifiedScan(services.bitrix24, entity, since=since, everything=everything)

    return build


def task_record(kind: str, payload: Any) -> tuple[str, str] | None:
    """`connector trace`: a Bitrix24 event task is about a contact (customer) or a deal (order)."""
    entity = {"contact": "customer", "deal": "order"}.get(str(payload.get("entity")))
    return (entity, str(payload.get("id"))) if entity and payload.get("entity") else None


SYSTEM = System(
    name="bitrix24",
    catalogue_copy="connector.catalogue.diff:bitrix24_differences",
    title="Bitrix24",
    settings=(
        "bitrix24_webhook_url",
        "bitrix24_portal_url",
        "bitrix24_client_id",
        "bitrix24_client_secret",
        "bitrix24_oauth_url",
        "bitrix24_application_token",
        "bitrix24_rate",
        "bitrix24_burst",
    ),
    # connected by an inbound webhook or as an OAuth app
    configured=any_set("bitrix24_webhook_url", "bitrix24_client_id"),
    push_after={"order": "customer"},  # a deal names its contact
    client=client,
    blueprint="connector.systems.bitrix24.routes:blueprint",  # its webhook route
    jobs="connector.systems.bitrix24.jobs:JOBS",
    task_handlers={
        "bitrix24.event": "connector.flows.crm:bitrix24_event",
        "push.bitrix24.contact": "connector.systems.bitrix24.contacts:push_bitrix24_contact",
        "push.bitrix24.deal": "connector.flows.orders:push_bitrix24_deal",
        "push.bitrix24.balance": "connector.flows.balance:push_bitrix24_balance",
    },
    streams={
        "deals": modified_scan("deals"),
        "contacts": modified_scan("contacts"),
        "offline_events": offline_events,
    },
    full_sync={"contacts": full("contacts"), "deals": full("deals")},
    setup="connector.systems.bitrix24.setup:run_setup",
    receives={"customer": "push.bitrix24.contact", "order": "push.bitrix24.deal"},
    sends={"customer", "order"},
    push_ordering={"push.bitrix24.balance": "contact"},
    trace=task_record,
)
