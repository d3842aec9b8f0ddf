"""Stories of a CDEK parcel: a paid order is registered once, its tracking number reaches the shop
and the CRM, and every status CDEK reports (by webhook, or by the backstop poll) moves the deal and
the shop order, tells the customer through Mailchimp and the bonus ledger, exactly once."""

from __future__ import annotations

import json

from sqlalchemy import select

from connector.delivery import on_order_status, shipment_of
from connector.delivery.rules import rules_for
from connector.identity import order_id_for
from connector.store.tables import loyalty_orders
from connector.systems.cdek.carrier import cdek_order

KZ = {
    "first_name": "Olena",
    "last_name": "Koval",
    "country": "KZ",
    "city": "Almaty",
    "address_1": "Abay Ave 1",
    "postcode": "050000",
}
EMAIL = "olena@example.com"


def registered(world, email: str = EMAIL) -> tuple[dict, str]:
    """A guest pays for an order to Kazakhstan; the order flow reports the status to delivery."""
    shop = world.guest_order(email, "+77011234567", KZ)
    world.settle()
    oid = world.order_id(shop["id"])
    snapshot = world.snapshot(oid)
    on_order_status(world.services, oid, snapshot["status"], snapshot)
    world.settle()
    return shop, oid


def move(world, uuid: str, *codes: str) -> None:
    """A courier scans the parcel; CDEK posts each status to the connector's webhook route."""
    world.control("cdek", f"/orders/{uuid}/status", codes=list(codes))
    world.settle()


def cdek_orders(world) -> list[dict]:
    return list(world.state("cdek")["orders"].values())


def loyalty_kinds(world) -> list[str]:
    return [t["payload"]["event"]["kind"] for t in world.tasks_of("loyalty.order_event")]


def test_a_paid_order_is_registered_once_and_its_tracking_number_reaches_shop_and_crm(world):
    shop, oid = registered(world)

    [parcel] = cdek_orders(world)
    assert parcel["number"] == oid  # CDEK refuses a second order with this number
    assert parcel["to_location"]["city"] == "Almaty"
    assert parcel["recipient"]["phones"] == [{"number": "+77011234567"}]
    link = shipment_of(world.services.engine, oid)
    assert (link.system, link.external_id) == ("cdek", parcel["uuid"])
    number = parcel["cdek_number"]
    assert link.data["tracking_number"] == number and link.data["state"] == "created"
    meta = {m["key"]: m["value"] for m in world.shop_order(shop["id"])["meta_data"]}
    assert meta["_tracking_number"] == number and meta["_tracking_carrier"] == "CDEK"
    assert world.deal()["UF_CRM_TRACKING_NUMBER"] == number
    assert world.snapshot(oid)["tracking_number"] == number
    assert world.dead_letters() == []

    # the task runs again (a retry after a crash) and the flow reports "processing" again
    world.services.queue.enqueue("delivery.register", {"order_id": oid})
    assert on_order_status(world.services, oid, "processing", world.snapshot(oid)) is False
    world.settle()

    assert len(cdek_orders(world)) == 1
    assert len(world.writes(system="cdek", action="register")) == 1
    assert len(world.writes(system="woocommerce", action="tracking")) == 1


def test_a_registration_whose_answer_was_lost_finds_the_first_parcel_by_its_number(world):
    shop = world.guest_order(EMAIL, "+77011234567", KZ)
    oid = order_id_for("woocommerce", shop["id"])
    # an earlier attempt reached CDEK, but its answer never came back
    lost = {"id": oid, "phone": "+77011234567", "delivery_city": "Almaty", "lines": []}
    world.services.cdek.create_order(cdek_order(lost, rules_for(world.services)))
    world.settle()

    on_order_status(world.services, oid, "processing", world.snapshot(oid))
    world.settle()

    [parcel] = cdek_orders(world)
    assert shipment_of(world.services.engine, oid).external_id == parcel["uuid"]
    assert world.deal()["UF_CRM_TRACKING_NUMBER"] == parcel["cdek_number"]
    assert world.dead_letters() == []


def test_the_parcel_moves_the_deal_and_the_shop_order_and_tells_the_customer(world):
    shop, oid = registered(world)
    uuid = shipment_of(world.services.engine, oid).external_id
    number = cdek_orders(world)[0]["cdek_number"]

    move(world, uuid, "RECEIVED_AT_SHIPMENT_WAREHOUSE")
    assert world.snapshot(oid)["status"] == "shipped"
    assert world.deal()["STAGE_ID"] == "FINAL_INVOICE"  # shipped, mappings/bitrix24/stage_map.yaml
    assert world.shop_order(shop["id"])["status"] == "completed"  # woocommerce order_status map

    move(world, uuid, "SENT_TO_RECIPIENT_CITY")
    move(world, uuid, "ACCEPTED_AT_PICK_UP_POINT")
    move(world, uuid, "DELIVERED")

    assert world.snapshot(oid)["status"] == "completed"
    assert world.deal()["STAGE_ID"] == "WON"
    assert world.shop_order(shop["id"])["status"] == "completed"
    parcel_comments = [c for c in world.comments() if c.startswith("Parcel CDEK")]
    assert parcel_comments == [
        f"Parcel CDEK {number}: registered (Офис СДЭК) [CREATED]",
        f"Parcel CDEK {number}: accepted by the carrier (Almaty) [RECEIVED_AT_SHIPMENT_WAREHOUSE]",
        f"Parcel CDEK {number}: in transit (Almaty) [SENT_TO_RECIPIENT_CITY]",
        f"Parcel CDEK {number}: arrived at the pickup point (Almaty) [ACCEPTED_AT_PICK_UP_POINT]",
        f"Parcel CDEK {number}: delivered (Almaty) [DELIVERED]",
    ]
    events = [e for e in world.member_events(EMAIL) if e.startswith("shipment_")]
    assert events == [
        "shipment_created",
        "shipment_accepted",
        "shipment_in_transit",
        "shipment_arrived_at_pickup",
        "shipment_delivered",
    ]
    assert loyalty_kinds(world).count("delivered") == 1
    with world.services.engine.connect() as connection:
        delivered_at = connection.scalar(
            select(loyalty_orders.c.delivered_at).where(loyalty_orders.c.order_id == oid)
        )
    assert delivered_at is not None  # the return window runs from the carrier's delivery
    assert world.dead_letters() == []


def test_duplicate_out_of_order_and_unconfirmed_statuses_change_nothing(world):
    shop, oid = registered(world)
    uuid = shipment_of(world.services.engine, oid).external_id
    move(world, uuid, "RECEIVED_AT_SHIPMENT_WAREHOUSE", "SENT_TO_RECIPIENT_CITY")
    move(world, uuid, "DELIVERED")
    deliveries = world.state("cdek")  # the webhooks CDEK sent, to deliver them again
    before = (
        world.comments(),
        world.member_events(EMAIL),
        len(world.writes(system="woocommerce")),
        len(world.writes(system="bitrix24", entity="deal")),
        loyalty_kinds(world),
        shipment_of(world.services.engine, oid).version,
    )
    assert deliveries["orders"][uuid]["statuses"][0]["code"] == "DELIVERED"

    hook = f"/webhooks/cdek/{world.services.settings.cdek_webhook_secret}"
    bodies = [d["body"] for d in world.sandbox.control("cdek", "GET", "/deliveries").json()]
    client = world.http
    for body in reversed(bodies):  # the same webhooks again, newest first
        answer = client.post(world.url + hook, data=body.encode(), timeout=10)
        assert answer.status_code == 200, answer.text
    for code in ("SENT_TO_RECIPIENT_CITY", "DELIVERED", "NOT_DELIVERED"):  # re-run, forged
        world.services.queue.enqueue(
            "cdek.status", {"uuid": uuid, "code": code, "status_at": "", "number": oid}
        )
    forged = {"type": "ORDER_STATUS", "uuid": "1e4c4c7e-0000-4000-8000-000000000000"}
    forged["attributes"] = {"code": "DELIVERED", "status_date_time": "2030-01-01T00:00:00+0000"}
    assert client.post(world.url + hook, data=json.dumps(forged), timeout=10).status_code == 200
    world.settle()

    after = (
        world.comments(),
        world.member_events(EMAIL),
        len(world.writes(system="woocommerce")),
        len(world.writes(system="bitrix24", entity="deal")),
        loyalty_kinds(world),
        shipment_of(world.services.engine, oid).version,
    )
    assert after == before
    assert shipment_of(world.services.engine, oid).data["state"] == "delivered"
    assert world.dead_letters() == []


def test_a_refused_parcel_reverses_the_bonuses(world):
    shop, oid = registered(world)
    uuid = shipment_of(world.services.engine, oid).external_id

    move(world, uuid, "RECEIVED_AT_SHIPMENT_WAREHOUSE", "NOT_DELIVERED")

    link = shipment_of(world.services.engine, oid)
    assert link.data["state"] == "returning"
    assert "shipment_returning" in world.member_events(EMAIL)
    assert loyalty_kinds(world).count("returned") == 1
    with world.services.engine.connect() as connection:
        closed = connection.scalar(
            select(loyalty_orders.c.closed).where(loyalty_orders.c.order_id == oid)
        )
    assert closed == "returned"
    assert world.dead_letters() == []


def test_the_backstop_poll_catches_statuses_whose_webhooks_were_lost(world):
    shop, oid = registered(world)
    uuid = shipment_of(world.services.engine, oid).external_id
    world.services.cdek.subscribe_webhook(world.url + "/nowhere")  # CDEK's posts now get lost

    move(world, uuid, "RECEIVED_AT_SHIPMENT_WAREHOUSE", "DELIVERED")
    assert shipment_of(world.services.engine, oid).data["state"] == "created"

    world.services.queue.enqueue("delivery.poll_cdek", {})
    world.settle()

    assert shipment_of(world.services.engine, oid).data["state"] == "delivered"
    assert world.deal()["STAGE_ID"] == "WON"
    assert "shipment_delivered" in world.member_events(EMAIL)
    assert world.dead_letters() == []
