"""A third carrier is one package: a carrier declared only through the registry (an installed
package's entry point) registers, tracks and cancels a parcel, with no edit in connector/delivery/.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connector.delivery import (
    Carrier,
    Observation,
    Registered,
    on_order_status,
    order_changed,
    poll_kind,
    poll_task,
    shipment_of,
)
from connector.delivery.rules import DeliveryRules, load_rules
from connector.errors import MappingError
from connector.flows.hub import Change
from connector.identity import HUB, Link, save_link
from connector.services import Services
from connector.systems.registry import ENTRY_POINT_GROUP, System
from connector.worker import Worker
from tests.support import make_settings

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ORDER = {
    "id": "shop-7",
    "number": "7",
    "status": "processing",
    "customer_id": "c7",
    "delivery_country": "PL",
    "delivery_city": "Kraków",
    "total": "120.00",
}
RULES = """\
delivery:
  ready_to_ship: {statuses: [processing]}
  carriers:
    - {name: Poland, carrier: parcelco, when: {country: [PL]}}
  default: none
  parcelco: {service: next-day}
"""


class ParcelCo:
    """The carrier an installed package would ship: a pretend API kept in memory."""

    name, title = "parcelco", "ParcelCo"
    pushes = False
    idempotent = True

    def __init__(self) -> None:
        self.parcels: dict[str, dict[str, Any]] = {}
        self.codes = {"NEW": "created", "PICKED": "accepted", "MOVING": "in_transit"}
        self.codes |= {"DONE": "delivered", "VOID": "cancelled"}

    def status_map(self, services: Services) -> Any:
        return SimpleNamespace(to_canonical=self.state_of)

    def state_of(self, code: str) -> str:
        if code not in self.codes:
            raise MappingError(f"ParcelCo status {code!r} has no mapping")
        return self.codes[code]

    def register(
        self, services: Services, order: Mapping[str, Any], rules: DeliveryRules
    ) -> Registered:
        parcel_id = f"PC-{order['id']}"
        options = rules.options_for(self.name)
        self.parcels.setdefault(parcel_id, {"code": "NEW", "at": T0, "service": options})
        return Registered(parcel_id, Observation("created", "NEW", T0, f"TRK{order['number']}"))

    def observe(
        self, services: Services, shipments: list[Link]
    ) -> Iterator[tuple[Link, Observation | MappingError]]:
        for link in shipments:
            parcel = self.parcels[link.external_id]
            try:
                state = self.state_of(parcel["code"])
            except MappingError as error:
                yield link, error
                continue
            yield link, Observation(state, parcel["code"], parcel["at"])

    def cancel(self, services: Services, shipment: Link) -> Observation:
        parcel = self.parcels[shipment.external_id]
        parcel.update(code="VOID", at=parcel["at"] + dt.timedelta(minutes=5))
        return Observation("cancelled", "VOID", parcel["at"])

    def move(self, parcel_id: str, code: str, minutes: int) -> None:
        self.parcels[parcel_id].update(code=code, at=T0 + dt.timedelta(minutes=minutes))


@pytest.fixture
def parcelco(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Services, ParcelCo]]:
    """Services whose registry found ParcelCo through an entry point, with rules that use it."""
    carrier = ParcelCo()
    system = System(
        name="parcelco",
        title="ParcelCo",
        configured=lambda settings: True,
        carrier=carrier,
        task_handlers={poll_kind("parcelco"): poll_task("parcelco")},
    )
    point = SimpleNamespace(name="parcelco", load=lambda: system)
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [point] if group == ENTRY_POINT_GROUP else [],
    )
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder, ignore=shutil.ignore_patterns("analytics.yaml"))
    (folder / "delivery.yaml").write_text(RULES, encoding="utf-8")
    services = Services(make_settings(tmp_path, mappings_dir=folder))
    save_link(services.engine, "order", ORDER["id"], HUB, ORDER["id"], data=ORDER)
    yield services, carrier
    services.close()


def drain(services: Services) -> None:
    Worker(services, threads=1, name="third-carrier").run_until_idle(timeout=10)


def test_a_carrier_declared_by_an_installed_package_satisfies_the_contract(parcelco):
    services, carrier = parcelco
    assert isinstance(carrier, Carrier)
    rules = load_rules(str(services.mappings_path / "delivery.yaml"))
    assert rules.choose_carrier(ORDER) == ("parcelco", "Poland")
    assert rules.options_for("parcelco") == {"service": "next-day"}


def test_a_third_carrier_registers_tracks_and_cancels_a_parcel_through_the_registry(parcelco):
    services, carrier = parcelco

    assert on_order_status(services, ORDER["id"], "processing", ORDER) is True
    drain(services)
    link = shipment_of(services.engine, ORDER["id"])
    assert (link.system, link.external_id) == ("parcelco", "PC-shop-7")
    assert (link.data["state"], link.data["tracking_number"]) == ("created", "TRK7")
    assert carrier.parcels["PC-shop-7"]["service"] == {"service": "next-day"}

    services.queue.enqueue(poll_kind("parcelco"), {})  # its poll, as its job would queue it
    drain(services)
    assert shipment_of(services.engine, ORDER["id"]).data["state"] == "created"  # nothing new

    cancelled = ORDER | {"status": "cancelled"}
    save_link(services.engine, "order", ORDER["id"], HUB, ORDER["id"], data=cancelled)
    assert order_changed(services, Change(ORDER, cancelled)) is True
    drain(services)

    link = shipment_of(services.engine, ORDER["id"])
    assert (link.data["state"], link.data["carrier_status"]) == ("cancelled", "VOID")
    assert carrier.parcels["PC-shop-7"]["code"] == "VOID"
    assert services.queue.stats().dead == 0


def test_the_poll_of_a_third_carrier_moves_its_parcel_and_reports_an_unmapped_status(parcelco):
    services, carrier = parcelco
    on_order_status(services, ORDER["id"], "processing", ORDER)
    drain(services)

    carrier.move("PC-shop-7", "MOVING", 30)
    services.queue.enqueue(poll_kind("parcelco"), {}, dedupe_key="poll-1")
    drain(services)
    link = shipment_of(services.engine, ORDER["id"])
    assert [h["state"] for h in link.data["history"]] == ["created", "in_transit"]

    carrier.move("PC-shop-7", "LOST_IN_SPACE", 60)
    services.queue.enqueue(poll_kind("parcelco"), {}, dedupe_key="poll-2")
    drain(services)
    [letter] = services.queue.dead_letters()
    assert "LOST_IN_SPACE" in str(letter)


def test_a_parcel_handed_over_to_the_third_carrier_is_not_cancelled(parcelco):
    services, carrier = parcelco
    on_order_status(services, ORDER["id"], "processing", ORDER)
    drain(services)
    carrier.move("PC-shop-7", "PICKED", 30)
    services.queue.enqueue(poll_kind("parcelco"), {})
    drain(services)

    cancelled = ORDER | {"status": "cancelled"}
    assert order_changed(services, Change(ORDER, cancelled)) is False
    assert carrier.parcels["PC-shop-7"]["code"] == "PICKED"
    assert shipment_of(services.engine, ORDER["id"]).data["state"] == "accepted"
