"""Stories of a Nova Poshta parcel: Nova Poshta 2.0 pushes nothing, so the poll job reads open
waybills, 100 per call, and each new status moves the deal and the shop order and tells the
customer, once."""

from __future__ import annotations

import re

from connector.delivery import on_order_status, shipment_of
from connector.identity import save_link
from jobs import all_jobs, enqueue_job

JOBS = all_jobs()  # the jobs of every system (their declarations)

UA = {
    "first_name": "Olena",
    "last_name": "Koval",
    "country": "UA",
    "city": "Київ",
    "address_1": "Відділення №1",
    "postcode": "01001",
}
EMAIL = "olena@example.ua"
POLL = next(job for job in JOBS if job.kind == "delivery.poll_novaposhta")


def registered(world) -> tuple[dict, str, str]:
    shop = world.guest_order(EMAIL, "+380671234567", UA)
    world.settle()
    oid = world.order_id(shop["id"])
    snapshot = world.snapshot(oid)
    on_order_status(world.services, oid, snapshot["status"], snapshot)
    world.settle()
    number = shipment_of(world.services.engine, oid).data["tracking_number"]
    return shop, oid, number


def courier(world, number: str, *codes: int) -> None:
    """The parcel moves at Nova Poshta; the next poll (a new time bucket) notices."""
    world.control("novaposhta", f"/parcels/{number}/status", status_codes=list(codes))
    courier.bucket = getattr(courier, "bucket", 0) + 1
    enqueue_job(world.services.queue, POLL, now=POLL.every_seconds * (1000 + courier.bucket))
    world.settle()


def test_a_ukrainian_order_gets_a_waybill_once_and_its_number_reaches_shop_and_crm(world):
    shop, oid, number = registered(world)

    [document] = world.state("novaposhta")["documents"].values()
    assert document["number"] == number
    assert document["phone"] == "380671234567" and document["city_recipient"] == "Київ"
    link = shipment_of(world.services.engine, oid)
    assert (link.system, link.external_id) == ("novaposhta", document["ref"])
    assert link.data["state"] == "created"
    meta = {m["key"]: m["value"] for m in world.shop_order(shop["id"])["meta_data"]}
    assert meta["_tracking_number"] == number and meta["_tracking_carrier"] == "Nova Poshta"
    assert world.deal()["UF_CRM_TRACKING_NUMBER"] == number

    world.services.queue.enqueue("delivery.register", {"order_id": oid})  # a retried task
    world.settle()

    assert len(world.state("novaposhta")["documents"]) == 1
    assert len(world.writes(system="novaposhta", action="register")) == 1
    assert world.dead_letters() == []


def test_the_poll_moves_the_deal_and_the_shop_order_and_tells_the_customer(world):
    shop, oid, number = registered(world)

    courier(world, number, 4)
    assert world.deal()["STAGE_ID"] == "FINAL_INVOICE"
    courier(world, number, 5)
    courier(world, number, 5)  # nothing new at Nova Poshta: nothing happens
    courier(world, number, 7)
    courier(world, number, 9)

    assert world.snapshot(oid)["status"] == "completed"
    assert world.deal()["STAGE_ID"] == "WON"
    assert world.shop_order(shop["id"])["status"] == "completed"
    parcel_comments = [c for c in world.comments() if c.startswith("Parcel Nova Poshta")]
    assert [re.split(r" [(\[]", c.split(": ", 1)[1])[0] for c in parcel_comments] == [
        "registered",
        "accepted by the carrier",
        "in transit",
        "arrived at the pickup point",
        "delivered",
    ]
    events = [e for e in world.member_events(EMAIL) if e.startswith("shipment_")]
    assert events == [
        "shipment_created",
        "shipment_accepted",
        "shipment_in_transit",
        "shipment_arrived_at_pickup",
        "shipment_delivered",
    ]
    kinds = [t["payload"]["event"]["kind"] for t in world.tasks_of("loyalty.order_event")]
    assert kinds.count("delivered") == 1

    polls = len(world.tasks_of("delivery.poll_novaposhta"))
    courier(world, number, 9)  # delivered is final: the parcel is no longer tracked
    assert len(world.tasks_of("delivery.poll_novaposhta")) == polls + 1
    assert [e for e in world.member_events(EMAIL) if e.startswith("shipment_")] == events
    assert world.dead_letters() == []


def test_a_refused_parcel_tells_the_ledger_it_came_back(world):
    shop, oid, number = registered(world)

    courier(world, number, 4, 5, 7, 103)

    assert shipment_of(world.services.engine, oid).data["state"] == "returning"
    kinds = [t["payload"]["event"]["kind"] for t in world.tasks_of("loyalty.order_event")]
    assert kinds.count("returned") == 1 and "delivered" not in kinds
    assert "shipment_returning" in world.member_events(EMAIL)
    assert world.dead_letters() == []


def test_open_waybills_are_tracked_in_calls_of_at_most_100(world, monkeypatch):
    engine = world.services.engine
    for index in range(106):
        parcel = world.control("novaposhta", "/parcels", phone="380671234567", status_code=5)
        data = {"carrier": "novaposhta", "state": "accepted", "tracking_number": parcel["number"]}
        if index < 5:
            data["state"] = "delivered"  # final: not asked about any more
        save_link(engine, "shipment", f"np-{index}", "novaposhta", parcel["ref"], data=data)
    calls = []
    real = world.services.novaposhta.call

    def spy(model, method, properties=None, **options):
        calls.append(len(properties["Documents"]))
        return real(model, method, properties, **options)

    monkeypatch.setattr(world.services.novaposhta, "call", spy)
    enqueue_job(world.services.queue, POLL, now=1.0)
    world.settle()

    assert calls == [100, 1]
    states = [shipment_of(engine, f"np-{i}").data["state"] for i in range(106)]
    assert states == ["delivered"] * 5 + ["in_transit"] * 101
    # parcels of orders the hub never saw are only recorded: nothing is written anywhere
    assert world.tasks_of("delivery.push.bitrix24") == []
    assert world.tasks_of("push.mailchimp.event") == []
    assert world.dead_letters() == []
