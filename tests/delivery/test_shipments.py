"""One door for every parcel status: older and repeated statuses change nothing, a final state is
left only for a return, and the order status only moves forward."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from connector.delivery import Observation, apply_observation, shipment_of
from connector.delivery.rules import SHIPPED_RULES, load_rules
from connector.flows.hub import load_snapshot
from connector.identity import HUB, save_link
from connector.store.tables import tasks
from connector.systems.cdek.carrier import cdek_observation, cdek_order
from connector.systems.novaposhta.carrier import novaposhta_waybill

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def order(services):
    """An order the hub knows, with a CDEK parcel registered for it."""
    oid = "woocommerce-727"
    snapshot = {"id": oid, "status": "processing", "customer_id": "c1", "total": "90.00"}
    save_link(services.engine, "order", oid, HUB, oid, data=snapshot)
    save_link(services.engine, "shipment", oid, "cdek", "uuid-1", data={"carrier": "cdek"})
    return oid


def see(services, oid, state, code, minutes, number="1106000001"):
    return apply_observation(services, oid, "cdek", Observation(state, code, at(minutes), number))


def queued(services, kind):
    with services.engine.connect() as connection:
        rows = connection.execute(select(tasks.c.payload).where(tasks.c.kind == kind))
        return [row.payload for row in rows]


def test_a_newer_state_is_applied_and_an_older_one_is_not(services, order):
    assert see(services, order, "created", "CREATED", 0).applied
    assert see(services, order, "in_transit", "SENT_TO_RECIPIENT_CITY", 10).announced
    older = see(services, order, "accepted", "RECEIVED_AT_SHIPMENT_WAREHOUSE", 5)

    assert (older.applied, older.reason) == (False, "older than the state applied")
    link = shipment_of(services.engine, order)
    assert link.data["state"] == "in_transit" and link.version == at(10).isoformat()
    assert [h["state"] for h in link.data["history"]] == ["created", "in_transit"]
    assert load_snapshot(services.engine, "order", order)["status"] == "shipped"


def test_a_repeated_status_changes_nothing(services, order):
    see(services, order, "in_transit", "SENT_TO_RECIPIENT_CITY", 10)
    again = see(services, order, "in_transit", "SENT_TO_RECIPIENT_CITY", 10)
    later_same = see(services, order, "in_transit", "SENT_TO_RECIPIENT_CITY", 11)

    assert (again.applied, again.reason) == (False, "duplicate")
    assert (later_same.applied, later_same.reason) == (False, "duplicate")
    assert len(shipment_of(services.engine, order).data["history"]) == 1


def test_at_the_same_moment_a_later_state_wins(services, order):
    see(services, order, "arrived_at_pickup", "ACCEPTED_AT_PICK_UP_POINT", 10)
    same_moment = see(services, order, "in_transit", "ACCEPTED_IN_RECIPIENT_CITY", 10)

    assert same_moment.reason == "same moment as a later state"
    assert see(services, order, "delivered", "DELIVERED", 10).applied


def test_a_delivered_parcel_may_only_come_back(services, order):
    see(services, order, "delivered", "DELIVERED", 10)
    assert see(services, order, "in_transit", "SENT_TO_TRANSIT_CITY", 20).reason == (
        "the shipment is already delivered"
    )
    assert see(services, order, "returning", "NOT_DELIVERED", 30).applied
    kinds = [p["event"]["kind"] for p in queued(services, "loyalty.order_event")]
    assert kinds == ["delivered", "returned"]
    assert see(services, order, "returned", "RETURNED", 40).applied
    kinds = [p["event"]["kind"] for p in queued(services, "loyalty.order_event")]
    assert kinds == ["delivered", "returned"]  # one return, however it is reported


def test_delivery_tells_the_ledger_when_it_happened(services, order):
    see(services, order, "delivered", "DELIVERED", 10)

    [event] = queued(services, "loyalty.order_event")
    assert event["customer_id"] == "c1" and event["order_id"] == order
    assert event["event"]["kind"] == "delivered" and event["event"]["total"] == "90"
    assert event["event"]["at"] == at(10).timestamp()


def test_the_order_status_only_moves_forward(services, order):
    save_link(services.engine, "order", order, HUB, order, data={"status": "completed"})
    see(services, order, "in_transit", "SENT_TO_RECIPIENT_CITY", 10)
    assert load_snapshot(services.engine, "order", order)["status"] == "completed"

    save_link(services.engine, "order", order, HUB, order, data={"status": "cancelled"})
    see(services, order, "delivered", "DELIVERED", 20)
    assert load_snapshot(services.engine, "order", order)["status"] == "cancelled"


def test_a_state_is_announced_only_once_the_tracking_number_is_known(services, order):
    first = see(services, order, "created", "ACCEPTED", 0, number=None)
    assert first.applied and not first.announced
    second = see(services, order, "created", "CREATED", 1)

    assert second.announced
    assert load_snapshot(services.engine, "order", order)["tracking_number"] == "1106000001"


def test_cdek_statuses_are_read_newest_first_without_deleted_ones(services):
    answer = {
        "entity": {
            "cdek_number": 1106000001,
            "statuses": [
                {"code": "CREATED", "date_time": "2026-11-20T17:39:52+03:00"},
                {"code": "DELIVERED", "date_time": "2026-11-21T09:00:00+03:00", "deleted": True},
                {"code": "RECEIVED_AT_SHIPMENT_WAREHOUSE", "date_time": "2026-11-21T08:00:00+0300",
                 "city": "Moscow"},
                {"code": "ACCEPTED", "date_time": "2026-11-20T17:39:51+03:00"},
            ],
        }
    }  # fmt: skip
    state_map = services.mappings.current.value_map("cdek", "shipment_state")
    seen = cdek_observation(answer, state_map)

    assert (seen.state, seen.carrier_status, seen.city) == (
        "accepted",
        "RECEIVED_AT_SHIPMENT_WAREHOUSE",
        "Moscow",
    )
    assert seen.status_at == dt.datetime(2026, 11, 21, 5, 0, tzinfo=dt.UTC)
    assert seen.tracking_number == "1106000001"
    assert cdek_observation({"entity": {"statuses": []}}, state_map) is None


def test_carrier_requests_carry_our_order_id_for_idempotency():
    rules = load_rules(SHIPPED_RULES)
    order = {
        "id": "woocommerce-727",
        "number": "727",
        "first_name": "Olena",
        "last_name": "Koval",
        "phone": "+380671234567",
        "total": "90.40",
        "delivery_country": "UA",
        "delivery_city": "Київ",
        "delivery_weight": "2.5",
        "lines": [{"sku": "WOO-1", "name": "Mug", "quantity": "2", "price": "45.20"}],
    }
    cdek = cdek_order(order, rules)
    assert cdek["number"] == "woocommerce-727" and cdek["tariff_code"] == 136
    assert cdek["packages"][0]["weight"] == 2500
    assert cdek["packages"][0]["items"][0] == {
        "name": "Mug",
        "ware_key": "WOO-1",
        "payment": {"value": 0},
        "cost": 45.2,
        "amount": 2,
        "weight": 1250,
    }
    waybill = novaposhta_waybill(order, rules, today=dt.date(2026, 11, 20))
    assert waybill["InfoRegClientBarcodes"] == "woocommerce-727"
    assert (waybill["Weight"], waybill["Cost"], waybill["DateTime"]) == ("2.5", "90", "20.11.2026")
    assert waybill["RecipientsPhone"] == "380671234567"
    assert waybill["RecipientName"] == "Olena Koval"


def test_a_parcel_cancelled_before_it_got_a_number_is_still_announced(services, order):
    assert not see(services, order, "created", "ACCEPTED", 0, number=None).announced
    assert see(services, order, "cancelled", "INVALID", 1, number=None).announced


def test_a_number_that_comes_with_an_old_status_still_goes_out_with_the_state(services, order):
    assert not see(services, order, "accepted", "RECEIVED", 10, number=None).announced
    late = see(services, order, "created", "CREATED", 5)

    assert late.reason == "older than the state applied"
    link = shipment_of(services.engine, order)
    assert (link.data["tracking_number"], link.data["announced"]) == ("1106000001", "accepted")
    assert load_snapshot(services.engine, "order", order)["status"] == "shipped"
