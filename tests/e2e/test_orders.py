"""Stories of an order: placed on the site, changed by a manager in Bitrix24 and acted on by
Mailchimp, it stays one consistent story in every system."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARRIVALS

UTM = [
    {"key": "_wc_order_attribution_utm_source", "value": "newsletter"},
    {"key": "_wc_order_attribution_utm_campaign", "value": "autumn"},
]


def shop_status(world, order_id: int) -> str:
    return next(o for o in world.state("woocommerce")["orders"] if o["id"] == order_id)["status"]


def comments(world) -> list[dict]:
    return list(world.state("bitrix24")["timeline_comments"])


def test_a_guest_order_becomes_one_contact_a_deal_and_a_mailchimp_order(world):
    order = world.guest_order("Olena@Example.com", "8 (912) 555-01-00", pay=True, meta_data=UTM)
    world.settle()

    assert world.dead_letters() == []
    [contact] = world.contacts()
    assert contact["NAME"] == "Olena" and contact["LAST_NAME"] == "Koval"
    assert [p["VALUE"] for p in contact["PHONE"]] == ["+79125550100"]  # E.164
    assert [e["VALUE"] for e in contact["EMAIL"]] == ["olena@example.com"]
    [deal] = world.deals()
    assert deal["CONTACT_ID"] == contact["ID"]
    assert deal["STAGE_ID"] == "EXECUTING"  # processing (paid) in mappings/bitrix24/stage_map.yaml
    assert deal["ORIGIN_ID"] == f"woocommerce-{order['id']}"
    assert deal["UTM_SOURCE"] == "newsletter" and deal["UTM_CAMPAIGN"] == "autumn"
    rows = world.state("bitrix24")["product_rows"][deal["ID"]]
    assert [(r["PRODUCT_NAME"], float(r["QUANTITY"])) for r in rows] == [("Woo Single #1", 2.0)]
    [mc_order] = world.store_items("orders").values()
    assert mc_order["financial_status"] == "paid"
    assert mc_order["customer"]["email_address"] == "olena@example.com"
    [member] = world.members().values()
    assert member["status"] == "transactional"  # no consent: never subscribed


def test_a_new_customers_deal_push_waits_until_the_contacts_push_wakes_it(world):
    world.guest_order("marta@example.com", "+380671112233", pay=True)
    world.wait_deliveries()
    queue, worker = world.services.queue, world.worker
    [shop_order] = queue.claim(worker.name)  # the shop's webhook: the order enters the hub
    assert shop_order.kind == "woocommerce.order"
    assert worker.execute(shop_order)
    queue.complete(shop_order, worker.name)

    due = {task["kind"] for task in world.due_tasks()}
    assert "push.bitrix24.contact" in due
    assert "push.bitrix24.deal" not in due  # it would only find no contact to name yet
    world.settle()

    [contact] = world.contacts()
    [deal] = world.deals()
    assert deal["CONTACT_ID"] == contact["ID"]
    [push] = world.tasks_of("push.bitrix24.deal")
    assert (push["state"], push["attempts"], push["last_error"]) == ("done", 1, None)


def test_a_manager_moving_the_deal_changes_the_shop_status_once(world):
    order = world.guest_order("ivan@example.com", "+380671234567", pay=True)
    world.settle()
    [deal] = world.deals()
    deal_writes = len(world.writes(system="bitrix24", entity="deal"))

    world.next_second()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.settle()

    assert shop_status(world, order["id"]) == "completed"
    # the shop's order.updated echo and Bitrix24's own update event change nothing
    assert len(world.writes(system="bitrix24", entity="deal")) == deal_writes
    assert len(world.writes(system="woocommerce", entity="order")) == 1
    assert world.deals()[0]["STAGE_ID"] == "WON"
    [mc_order] = world.store_items("orders").values()
    assert mc_order["fulfillment_status"] == "shipped"
    assert world.dead_letters() == []


def test_a_status_change_in_the_shop_moves_the_deal_with_a_timeline_comment(world):
    order = world.guest_order("petro@example.com", pay=True)
    world.settle()

    world.next_second()
    world.shop(f"/admin/orders/{order['id']}/status", status="cancelled")
    world.settle()

    [deal] = world.deals()
    assert deal["STAGE_ID"] == "LOSE"
    texts = [c["COMMENT"] for c in comments(world)]
    assert texts == ["Order status changed in the shop: processing → cancelled"]
    [mc_order] = world.store_items("orders").values()
    assert mc_order["financial_status"] == "cancelled"
    assert "loyalty.order_event" in world.task_kinds()


def test_the_same_person_from_shop_crm_and_pos_is_one_contact(world):
    world.crm(
        "/act/contact",
        fields={"NAME": "Olena", "PHONE": [{"VALUE": "+380671234567", "VALUE_TYPE": "MOBILE"}]},
    )
    world.settle()
    world.guest_order("olena@example.com", "+38 (067) 123-45-67", pay=True)
    world.settle()
    world.shop_event(
        "order.created",
        {
            "id": "POS-77",
            "number": "77",
            "status": "paid",
            "currency": "USD",
            "totals": {"total": "12.00"},
            "customer": {"phone": "+380671234567", "email": "OLENA@example.com"},
            "lines": [
                {
                    "id": "1",
                    "sku": "MUG",
                    "product_id": "mug",
                    "name": "Mug",
                    "quantity": 1,
                    "price": "12.00",
                    "total": "12.00",
                }
            ],
            "updated_at": "2026-11-21T10:00:00+00:00",
        },
    )
    world.settle()

    contacts = world.contacts()
    assert len(contacts) == 1
    deals = world.deals()
    assert len(deals) == 2 and {d["CONTACT_ID"] for d in deals} == {contacts[0]["ID"]}
    assert len(world.members()) == 1
    assert world.dead_letters() == []


def test_loyalty_hears_each_transition_once(world):
    order = world.guest_order("anna@example.com", pay=True)
    world.settle()
    world.shop(f"/admin/orders/{order['id']}/refund", amount="4.00")
    world.settle()
    world.next_second()
    world.shop(f"/admin/orders/{order['id']}/status", status="completed")
    world.settle()

    events = [
        (t["payload"]["event"]["kind"], t["payload"].get("amount"))
        for t in world.tasks_of("loyalty.order_event")
    ]
    assert events == [("paid", None), ("refunded", "4.00"), ("delivered", None)]


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_a_managers_stage_move_wins_over_a_shop_change_made_meanwhile(world, arrival):
    order = world.guest_order("race@example.com", pay=True)
    world.settle()
    [deal] = world.deals()

    world.next_second()
    world.hold_webhooks()  # both changes happen before the connector hears of either
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.shop(f"/admin/orders/{order['id']}/status", status="on-hold")
    world.wait_deliveries()
    world.deliver_in_turn(*ARRIVALS[arrival])

    assert world.deals()[0]["STAGE_ID"] == "WON"  # `owner: bitrix24` in the deal mapping
    assert shop_status(world, order["id"]) == "completed"
    assert world.dead_letters() == []


def test_a_product_changed_in_the_shop_is_upserted_to_mailchimp(world):
    world.services.woocommerce.request("PUT", "/products/93", json={"name": "Woo Single #1 (new)"})
    world.settle()

    product = world.store_items("products")["93"]
    assert product["title"] == "Woo Single #1 (new)"
    assert [v["id"] for v in product["variants"]] == ["93"]
    assert world.dead_letters() == []
