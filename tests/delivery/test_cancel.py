"""Stories of a cancelled order: a parcel still with the shop is cancelled at its carrier (CDEK
`DELETE /v2/orders/{uuid}`, Nova Poshta `InternetDocument.delete`), once; a parcel already handed
over travels on."""

from __future__ import annotations

from connector.delivery import on_order_status, shipment_of
from connector.identity import HUB, save_link
from tests.delivery.test_cdek import cdek_orders, move
from tests.delivery.test_cdek import registered as registered_with_cdek
from tests.delivery.test_novaposhta import registered as registered_with_novaposhta
from tests.delivery.test_registration import ORDER, FakeNovaPoshta, np_services, run_register

__all__ = ["np_services"]  # the fixture, shared with test_registration


def cancel_in_the_shop(world, shop_id: int) -> None:
    """A manager cancels the order in WooCommerce; its webhook brings the new status in."""
    world.next_second()
    world.shop(f"/admin/orders/{shop_id}/status", status="cancelled")
    world.settle()


def test_an_order_cancelled_before_hand_over_cancels_its_cdek_parcel_once(world):
    shop, oid = registered_with_cdek(world)

    cancel_in_the_shop(world, shop["id"])

    [parcel] = cdek_orders(world)
    assert parcel["statuses"][0]["code"] == "REMOVED"
    link = shipment_of(world.services.engine, oid)
    assert (link.data["state"], link.data["carrier_status"]) == ("cancelled", "REMOVED")
    assert len(world.writes(system="cdek", action="cancel")) == 1
    assert any("cancelled" in text and "CDEK" in text for text in world.comments())
    assert world.dead_letters() == []

    # the order flow reports the cancellation again: the parcel is cancelled already
    assert on_order_status(world.services, oid, "cancelled", world.snapshot(oid)) is False
    world.settle()
    assert len(world.writes(system="cdek", action="cancel")) == 1


def test_a_cdek_parcel_handed_over_is_not_cancelled_with_its_order(world):
    shop, oid = registered_with_cdek(world)
    [parcel] = cdek_orders(world)
    move(world, parcel["uuid"], "RECEIVED_AT_SHIPMENT_WAREHOUSE")

    cancel_in_the_shop(world, shop["id"])

    [parcel] = cdek_orders(world)
    assert "REMOVED" not in [s["code"] for s in parcel["statuses"]]
    assert shipment_of(world.services.engine, oid).data["state"] == "accepted"
    assert world.tasks_of("delivery.cancel") == []
    assert world.dead_letters() == []


def test_an_order_cancelled_before_hand_over_deletes_its_nova_poshta_waybill(world):
    shop, oid, number = registered_with_novaposhta(world)

    cancel_in_the_shop(world, shop["id"])

    [document] = world.state("novaposhta")["documents"].values()
    assert (document["number"], document["status_code"]) == (number, 2)
    link = shipment_of(world.services.engine, oid)
    assert (link.data["state"], link.data["carrier_status"]) == ("cancelled", "2")
    assert len(world.writes(system="novaposhta", action="cancel")) == 1
    assert world.dead_letters() == []


def test_an_order_cancelled_while_its_registration_waited_gets_no_parcel(np_services):
    np_services.__dict__["novaposhta"] = carrier = FakeNovaPoshta()
    cancelled = ORDER | {"status": "cancelled"}
    save_link(np_services.engine, "order", ORDER["id"], HUB, ORDER["id"], data=cancelled)

    run_register(np_services)  # queued while the order was paid, run after it was cancelled

    assert carrier.saved == []
    assert shipment_of(np_services.engine, ORDER["id"]) is None
