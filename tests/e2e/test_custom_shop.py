"""A custom site on the generic contract hears what the CRM changed, signed, and only once."""

from __future__ import annotations

import json

from connector.systems import shop
from tests.e2e.conftest import SHOP_SECRET

ORDER = {
    "id": "SITE-9",
    "number": "9",
    "status": "paid",
    "currency": "EUR",
    "totals": {"total": "30.00"},
    "customer": {"id": "C-5", "phone": "+4915112345678", "email": "lena@example.com"},
    "lines": [
        {"id": "1", "sku": "MUG", "name": "Mug", "quantity": 2, "price": "15.00", "total": "30.00"}
    ],
    "updated_at": "2026-11-25T10:00:00+00:00",
}


def callbacks(sink) -> list[dict]:
    """Every event the site received, each checked to carry a valid Standard Webhooks
    signature made with the shared secret."""
    events = []
    for received in sink.posts("/shop-callbacks"):
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert shop.verify(SHOP_SECRET, headers, received.body) is None
        events.append({"id": headers["webhook-id"], **json.loads(received.body)})
    return events


def test_a_managers_stage_move_reaches_the_custom_site_once(world, webhook_sink):
    world.shop_event("order.created", ORDER)
    world.settle()
    assert callbacks(webhook_sink) == []  # nothing changed that the site does not know
    [deal] = world.deals()

    world.next_second()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.settle()

    [event] = callbacks(webhook_sink)
    assert event["type"] == "order.updated"
    assert event["data"] == {"id": "SITE-9", "status": "completed"}
    assert event["id"].startswith("msg_order_")

    # The site applies it and echoes its record back: nothing moves again.
    deal_writes = len(world.writes(system="bitrix24", entity="deal"))
    world.shop_event(
        "order.updated", {**ORDER, "status": "completed", "updated_at": "2026-11-25T10:05:00+00:00"}
    )
    world.settle()
    assert len(callbacks(webhook_sink)) == 1
    assert len(world.writes(system="bitrix24", entity="deal")) == deal_writes
    assert world.dead_letters() == []


def test_a_contact_edited_in_the_crm_reaches_the_custom_sites_customer(world, webhook_sink):
    world.shop_event(
        "customer.created",
        {"id": "C-7", "email": "anna@example.com", "phone": "+4915112345679", "first_name": "Ana"},
    )
    world.settle()
    [contact] = world.contacts()

    world.next_second()
    world.crm("/act/contact", id=int(contact["ID"]), fields={"NAME": "Anna"})
    world.settle()

    [event] = callbacks(webhook_sink)
    assert event["type"] == "customer.updated"
    assert event["data"] == {"id": "C-7", "first_name": "Anna"}
    assert world.dead_letters() == []


def test_a_site_that_refuses_an_event_gets_it_retried_then_dead_lettered(world, webhook_sink):
    world.shop_event("order.created", ORDER)
    world.settle()
    [deal] = world.deals()
    webhook_sink.status = 400  # the site refuses what it cannot apply

    world.next_second()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.settle()

    [dead] = world.dead_letters()
    assert dead["kind"] == "push.shop.order"
    assert "HTTP 400" in dead["last_error"]
