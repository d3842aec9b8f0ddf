"""The exporter skeleton's two hooks for pushes whose link is not simply the target's: a link
state taken from what the system answered (`settle`), and a link kept under another system
(`link_system`, as a shipment's pushes remember on the carrier's link what they told the CRM)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import change_snapshot
from connector.identity import link_of, save_link
from connector.store.tables import audit


class Shop:
    """A stand-in shop API that answers each write with the record as it now holds it."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def update(self, record_id: str, status: str) -> dict[str, Any]:
        self.writes.append({"id": record_id, "status": status})
        return {"id": record_id, "status": status.upper(), "modified": "2026-12-01T10:00:00"}


class ShopOrders(Exporter):
    system, entity = "shop2", "order"

    def plan(self, push: Push) -> Plan | None:
        status = push.record["status"]
        write = Write("shop2", "order", "update", "S-9", lambda shop: shop.update("S-9", status))

        def settle(plan: Plan, results: list[Any]) -> None:
            written = results[0]
            plan.fingerprint, plan.version = f"held:{written['status']}", written["modified"]
            plan.data = {"seen": {"status": written["status"]}}
            write.detail = {"answered": written["status"]}

        return Plan([write], external_id="S-9", settle=settle)


class ParcelNotes(Exporter):
    """Writes to the CRM, remembers on the parcel's link at its carrier."""

    system, entity, id_field = "crm2", "shipment", "order_id"

    def link_system(self, payload: Any) -> str:
        return str(payload["carrier"])

    def load(self, ctx: Any, canonical_id: str) -> dict[str, Any] | None:
        return {}

    def plan(self, push: Push) -> Plan | None:
        assert push.link is not None and push.link.system == "parcelco"
        if push.link.data.get("noted"):
            return None
        write = Write("crm2", "deal", "comment", "D-1", lambda crm: crm.update("D-1", "noted"))
        return Plan([write], external_id=push.link.external_id, data={"noted": True})


def context(services: Any) -> Any:
    return SimpleNamespace(services=services, task=SimpleNamespace(id=3, enqueued_at=0.0))


def executor(client: Shop) -> Any:
    return lambda ctx, writes: [write.call(client) for write in writes]


def audit_details(services: Any) -> list[Any]:
    with services.engine.connect() as connection:
        return [row.detail for row in connection.execute(select(audit.c.detail))]


def test_a_push_links_the_record_as_the_system_answered_it(services):
    with services.engine.begin() as connection:
        change_snapshot(connection, "order", "o1", lambda _: {"id": "o1", "status": "processing"})
    shop = Shop()

    ShopOrders(executor(shop))(context(services), {"id": "o1"})

    link = link_of(services.engine, "order", "o1", "shop2")
    assert (link.external_id, link.fingerprint) == ("S-9", "held:PROCESSING")
    assert (link.version, link.data["seen"]) == ("2026-12-01T10:00:00", {"status": "PROCESSING"})
    assert audit_details(services) == [{"answered": "PROCESSING"}]


def test_a_push_may_remember_its_write_on_the_link_of_another_system(services):
    save_link(services.engine, "shipment", "o1", "parcelco", "PC-1", data={"state": "created"})
    crm = Shop()
    notes = ParcelNotes(executor(crm))

    notes(context(services), {"order_id": "o1", "carrier": "parcelco"})
    notes(context(services), {"order_id": "o1", "carrier": "parcelco"})  # run twice, writes once

    assert crm.writes == [{"id": "D-1", "status": "noted"}]
    link = link_of(services.engine, "shipment", "o1", "parcelco")
    assert link.data == {"state": "created", "noted": True}
    assert link_of(services.engine, "shipment", "o1", "crm2") is None
