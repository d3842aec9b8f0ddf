"""Whole stories through the flows: what the webhooks missed, polling and reconciliation bring in;
store sales imported from a till become deals; trace then finds the customer everywhere."""

from __future__ import annotations

import pytest

pytest.importorskip("connector.flows")
pytest.importorskip("tests.e2e.conftest")

from connector.sync.full import FullSync  # noqa: E402
from connector.sync.polling import poll_once  # noqa: E402
from connector.sync.pos import import_orders  # noqa: E402
from connector.sync.trace import trace_customer  # noqa: E402
from tests.e2e.conftest import world  # noqa: E402, F401 - the e2e stories' fixture

SALES = """Receipt Number,Date,Card Number,Phone,Email,SKU,Name,Qty,Price,Total
R-1,2026-11-20 10:15:00,,8 (912) 555-01-00,olena@example.com,woo-single-1,Woo Single #1,2,3.50,7.00
"""


def test_an_order_whose_webhook_was_lost_arrives_by_polling_once(world):  # noqa: F811 - the fixture
    world.hold_webhooks()  # the shop's deliveries fail: nothing reaches the connector
    order = world.guest_order("olena@example.com", "(555) 555-0100", pay=True)
    world.tap.held.clear()
    world.tap.holding = False
    assert world.inbound_count() == 0

    poll_once(world.services, "woocommerce", "orders")
    world.settle()
    assert world.dead_letters() == []
    [deal] = world.deals()
    assert deal["ORIGIN_ID"] == f"woocommerce-{order['id']}"

    poll_once(world.services, "woocommerce", "orders")  # the window overlaps: nothing new
    world.settle()
    assert len(world.deals()) == 1


def test_a_stage_move_whose_event_was_lost_arrives_by_reconciliation(world):  # noqa: F811 - the fixture
    order = world.guest_order("olena@example.com", "(555) 555-0100", pay=True)
    world.settle()
    [deal] = world.deals()
    world.next_second()
    world.hold_webhooks()
    world.crm("/act/deal", id=deal["ID"], stage_id="WON")
    world.tap.held.clear()
    world.tap.holding = False

    poll_once(world.services, "bitrix24", "deals")
    world.settle()
    assert world.dead_letters() == []
    status = next(o for o in world.state("woocommerce")["orders"] if o["id"] == order["id"])
    assert status["status"] == "completed"


def test_a_full_sync_of_an_existing_shop_makes_one_deal_per_order(world):  # noqa: F811 - the fixture
    world.hold_webhooks()
    orders = [world.guest_order(f"buyer{n}@example.com", pay=True) for n in range(3)]
    world.tap.held.clear()
    world.tap.holding = False
    FullSync(world.services).run("woocommerce")
    world.settle()
    origins = sorted(d["ORIGIN_ID"] for d in world.deals())
    assert origins == sorted(f"woocommerce-{o['id']}" for o in orders)


def test_store_sales_become_deals_once_and_trace_finds_the_customer(world, tmp_path):  # noqa: F811 - the fixture
    web = world.guest_order("olena@example.com", "8 (912) 555-01-00", pay=True)
    world.settle()
    sales = tmp_path / "sales.csv"
    sales.write_text(SALES)
    for _ in range(2):  # importing the same file twice changes nothing
        import_orders(world.services.queue, world.services.mappings.current, str(sales))
        world.settle()
    assert world.dead_letters() == []
    origins = sorted(d["ORIGIN_ID"] for d in world.deals())
    assert origins == ["shop-pos-R-1", f"woocommerce-{web['id']}"]
    assert len(world.contacts()) == 1  # the till's customer is the web customer

    found = trace_customer(world.services.engine, phone="8 912 555-01-00", region="RU")
    [customer] = found.customers
    assert {link["system"] for link in customer["links"]} >= {"bitrix24", "mailchimp"}  # a guest
    assert len(found.orders) == 2
    assert found.events  # the shop's webhooks about the web order
