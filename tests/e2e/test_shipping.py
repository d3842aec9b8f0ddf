"""A paid web order ships: the order flow hands it to the delivery feature, the carrier gets the
parcel, and the tracking number and every parcel state come back to the shop, the CRM and
Mailchimp (issue 7: the customer sees where the parcel is)."""

from __future__ import annotations

from jobs import all_jobs, enqueue_job

JOBS = all_jobs()  # the jobs of every system (their declarations)


def shop_order(world, order_id: int) -> dict:
    return next(o for o in world.state("woocommerce")["orders"] if o["id"] == order_id)


def test_a_paid_order_to_ukraine_ships_with_nova_poshta_and_its_states_come_back(world):
    kyiv = {"country": "UA", "city": "Kyiv", "address_1": "Khreshchatyk 1"}
    order = world.guest_order(
        "olena@example.com", "+380671234567", pay=True, billing=kyiv, shipping=kyiv
    )
    world.settle()
    assert world.dead_letters() == []
    assert len(world.tasks_of("delivery.register")) == 1
    [parcel] = world.state("novaposhta")["documents"].values()
    number = parcel["number"]
    [deal] = world.deals()
    assert deal.get("UF_CRM_TRACKING_NUMBER") == number
    assert number in str(shop_order(world, order["id"])["meta_data"])

    world.next_second()
    moved = world.sandbox.control(
        "novaposhta", "POST", f"/parcels/{number}/status", json={"status_codes": [5, 7, 9]}
    )
    assert moved.ok, moved.text
    poll = next(job for job in JOBS if job.kind == "delivery.poll_novaposhta")
    enqueue_job(world.services.queue, poll)
    world.settle()

    assert world.dead_letters() == []
    assert shop_order(world, order["id"])["status"] == "completed"
    [deal] = world.deals()
    assert deal["STAGE_ID"] == "WON"
    sent = [t["payload"]["name"] for t in world.tasks_of("push.mailchimp.event")]
    assert "shipment_delivered" in sent
    loyalty = [t["payload"]["event"] for t in world.tasks_of("loyalty.order_event")]
    assert [e["kind"] for e in loyalty].count("delivered") == 1
