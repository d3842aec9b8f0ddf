"""Polling WooCommerce (the emulator) by `modified_after`: the changed orders are enqueued once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from connector.store.tables import inbound_events
from connector.sync.cursors import read_cursor
from connector.sync.polling import poll_once
from connector.sync.streams import run_stream
from connector.sync.woocommerce import CustomerScan, ModifiedStream
from tests.sync.conftest import queued


def minutes_ago(minutes: float) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return moment.replace(microsecond=0, tzinfo=None).isoformat()


def create_orders(client, count: int, created: str) -> list[int]:
    ids = []
    for start in range(0, count, 100):
        body = {
            "create": [
                {"status": "processing", "date_created_gmt": created}
                for _ in range(min(100, count - start))
            ]
        }
        ids += [row["id"] for row in client.request("POST", "/orders/batch", json=body)["create"]]
    return ids


def test_poll_enqueues_each_changed_order_once_though_windows_overlap(shop_services):
    client = shop_services.woocommerce
    ids = create_orders(client, 3, minutes_ago(10))

    first = poll_once(shop_services, "woocommerce", "orders", lookback=600)
    tasks = queued(shop_services, "woocommerce.order")
    assert first.enqueued == 3
    assert sorted(t["payload"]["id"] for t in tasks) == sorted(ids)
    order = client.get_order(ids[0])
    assert tasks[0]["payload"]["modified"] == order["date_modified_gmt"]
    assert tasks[0]["dedupe_key"] == f"sync:woocommerce:order:{ids[0]}:{order['date_modified_gmt']}"
    assert tasks[0]["ordering_key"] == f"order:woocommerce:{ids[0]}"
    cursor = read_cursor(shop_services.engine, "woocommerce", "orders")
    assert cursor == {"modified": order["date_modified_gmt"]}

    again = poll_once(shop_services, "woocommerce", "orders", lookback=600)
    assert again.read == 3 and again.enqueued == 0  # the lookback re-read them all

    client.update_order(ids[1], status="completed")
    third = poll_once(shop_services, "woocommerce", "orders", lookback=600)
    assert third.enqueued == 1
    newest = queued(shop_services, "woocommerce.order")[-1]
    assert newest["payload"]["id"] == ids[1]
    assert newest["payload"]["modified"] == client.get_order(ids[1])["date_modified_gmt"]
    assert len(queued(shop_services, "woocommerce.order")) == 4


def test_many_orders_changed_in_one_second_are_paged_through(shop_services):
    client = shop_services.woocommerce
    ids = create_orders(client, 25, minutes_ago(5)) + create_orders(client, 3, minutes_ago(4))
    stream = ModifiedStream(client, "orders", lookback=60, per_page=10)
    outcome = run_stream(shop_services.queue, stream)
    assert outcome.enqueued == 28 and outcome.deduplicated == 0
    assert sorted(t["payload"]["id"] for t in queued(shop_services)) == sorted(ids)


def test_an_order_changed_while_pages_are_read_shifts_no_other_order_out(shop_services):
    client = shop_services.woocommerce
    ids = []
    for minute in range(30, 0, -1):  # 30 orders, one a minute, oldest first
        ids += create_orders(client, 1, minutes_ago(minute + 0.5))
    real = client.request_full
    pages = []

    def changing_the_shop(method, path, **kwargs):
        answer = real(method, path, **kwargs)
        pages.append(path)
        if len(pages) == 1:  # an admin edits an order of the first page meanwhile
            client.update_order(ids[0], status="on-hold")
        return answer

    client.request_full = changing_the_shop
    stream = ModifiedStream(client, "orders", first_window=7200, per_page=10)
    run_stream(shop_services.queue, stream)
    found = [t["payload"]["id"] for t in queued(shop_services)]
    assert set(found) == set(ids)
    assert found.count(ids[0]) == 2  # its first version, then the edit


def test_a_change_a_webhook_already_brought_is_skipped(shop_services):
    client = shop_services.woocommerce
    [order_id] = create_orders(client, 1, minutes_ago(3))
    modified = client.get_order(order_id)["date_modified_gmt"]
    with shop_services.engine.begin() as connection:
        connection.execute(
            insert(inbound_events).values(
                source="woocommerce",
                delivery_id=f"order.created:{order_id}:{modified}:0123456789abcdef",
                topic="order.created",
                received_at=0.0,
                body="{}",
            )
        )
    outcome = poll_once(shop_services, "woocommerce", "orders")
    assert outcome.read == 1 and outcome.skipped == 1 and outcome.enqueued == 0
    assert queued(shop_services) == []


def test_customers_are_scanned_and_only_changed_ones_enqueued(shop_services):
    client = shop_services.woocommerce
    first = client.request("POST", "/customers", json={"email": "ann@example.com"})["id"]
    run_stream(shop_services.queue, CustomerScan(client, first_window=600))
    assert [t["payload"]["id"] for t in queued(shop_services, "woocommerce.customer")] == [first]

    second = client.request("POST", "/customers", json={"email": "bob@example.com"})["id"]
    outcome = run_stream(shop_services.queue, CustomerScan(client, per_page=1))
    assert outcome.pages == 2 and outcome.enqueued == 1 and outcome.deduplicated == 1
    new = [t["payload"]["id"] for t in queued(shop_services, "woocommerce.customer")]
    assert new == [first, second]


def test_an_unconfigured_system_is_not_polled(services):
    assert poll_once(services, "woocommerce", "orders") is None
