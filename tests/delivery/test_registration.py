"""Registration decisions and Nova Poshta's missing idempotency, without the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from connector.delivery import on_order_status, order_changed, shipment_of
from connector.delivery.registration import ready_to_ship, register
from connector.delivery.rules import DeliveryRules
from connector.errors import PermanentError, TransientError
from connector.flows.hub import Change
from connector.http import RequestNotSent
from connector.identity import HUB, save_link
from connector.queue import Task
from connector.services import Services
from connector.tasks import TaskContext
from tests.support import make_settings

ORDER = {
    "id": "shop-1",
    "number": "1",
    "status": "processing",
    "customer_id": "c1",
    "phone": "+380671234567",
    "total": "100.00",
    "delivery_country": "UA",
    "delivery_city": "Київ",
}


class FakeNovaPoshta:
    """Answers `InternetDocument.save` as told: a waybill, or the given errors first."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.saved = list(errors), []

    def create_waybill(self, properties: dict[str, Any]) -> dict[str, Any]:
        self.saved.append(properties)
        if self.errors:
            raise self.errors.pop(0)
        return {"Ref": f"ref-{len(self.saved)}", "IntDocNumber": f"2045000000000{len(self.saved)}"}


@pytest.fixture
def np_services(tmp_path: Path, store_url: str):
    settings = make_settings(
        tmp_path,
        database_url=store_url,
        novaposhta_api_key="key",
        novaposhta_url="http://127.0.0.1:9",
    )
    built = Services(settings)
    save_link(built.engine, "order", ORDER["id"], HUB, ORDER["id"], data=ORDER)
    yield built
    built.close()


def run_register(services: Services) -> None:
    task = Task(1, "delivery.register", {"order_id": "shop-1"}, 1, None, time.time(), time.time())
    register(TaskContext(task, services), task.payload)


def test_an_unanswered_waybill_request_is_never_sent_twice(np_services):
    np_services.__dict__["novaposhta"] = carrier = FakeNovaPoshta(TransientError("time-out"))
    with pytest.raises(TransientError):
        run_register(np_services)
    with pytest.raises(PermanentError) as stopped:
        run_register(np_services)

    assert stopped.value.code == "registration_unknown" and "shop-1" in str(stopped.value)
    assert len(carrier.saved) == 1


@pytest.mark.parametrize(
    "error", [RequestNotSent("connection refused"), PermanentError("Weight is empty")]
)
def test_a_refused_or_unsent_request_is_tried_again(np_services, error):
    np_services.__dict__["novaposhta"] = carrier = FakeNovaPoshta(error)
    with pytest.raises(type(error)):
        run_register(np_services)
    run_register(np_services)
    run_register(np_services)  # a third run finds the shipment and does nothing

    assert len(carrier.saved) == 2
    link = shipment_of(np_services.engine, "shop-1")
    assert (link.external_id, link.data["tracking_number"]) == ("ref-2", "20450000000002")
    assert carrier.saved[1]["InfoRegClientBarcodes"] == "shop-1"


def test_only_a_ready_order_with_a_configured_carrier_is_queued(np_services):
    queue = np_services.queue
    assert on_order_status(np_services, "shop-1", "pending", ORDER) is False
    kz = ORDER | {"delivery_country": "KZ"}  # CDEK is not configured here
    assert on_order_status(np_services, "shop-1", "processing", kz) is False
    nowhere = {k: v for k, v in ORDER.items() if k != "delivery_city"}
    assert on_order_status(np_services, "shop-1", "processing", nowhere) is False
    assert on_order_status(np_services, "shop-1", "processing", ORDER) is True
    assert on_order_status(np_services, "shop-1", "processing", ORDER) is False  # once
    assert queue.stats().queued == 1


def test_a_bitrix24_stage_counts_as_the_status_it_maps_to(services):
    rules = DeliveryRules(ready_statuses=frozenset(), ready_stages=("FINAL_INVOICE",))
    assert ready_to_ship(services, rules, "shipped")  # FINAL_INVOICE <-> shipped
    assert not ready_to_ship(services, rules, "processing")
    assert not ready_to_ship(services, DeliveryRules(), None)


def test_the_order_flow_reports_only_status_changes(np_services):
    before, after = dict(ORDER, status="pending"), dict(ORDER)
    assert order_changed(np_services, Change(after, after)) is False  # no new status
    assert order_changed(np_services, Change(before, after)) is True
    assert np_services.queue.stats().queued == 1
