"""Stories of a Kaspi.kz marketplace order: polled from Kaspi (it has no webhooks), it becomes the
same customer as the shop's (by phone, read as Kazakh), one deal with Kaspi's own source and one
bonus accrual, however often it is read and however often Kaspi fails; it is accepted for the
merchant, and a cancellation on either side reaches the other."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from sqlalchemy import select

from connector.errors import TransientError
from connector.http import RetryPolicy
from connector.identity import order_id_for
from connector.store.tables import loyalty_entries
from connector.sync.polling import poll_once
from connector.sync.streams import run_stream
from connector.systems.kaspi.client import DAY_MS
from connector.systems.kaspi.polling import OrdersStream
from connector.systems.kaspi.system import kaspi_client

PHONE = "7011234567"  # as Kaspi writes it: no country code
HEADPHONES = [{"sku": "HP-100", "name": "Наушники", "quantity": 2, "price": 11990}]


@pytest.fixture
def kaspi(world) -> Any:
    """The world's Kaspi client, retrying blips quickly as the other clients of the world do."""
    client = kaspi_client(world.services)
    client.retry = RetryPolicy(backoff=0.01, backoff_cap=0.05)
    return client


def place(world, **body: Any) -> dict[str, Any]:
    """A buyer checks out on Kaspi: the order waits for the merchant (APPROVED_BY_BANK)."""
    return world.control("kaspi", "/orders", **({"cellPhone": PHONE, "lines": HEADPHONES} | body))


def poll(world, kaspi, **options: Any) -> Any:
    """One poll of Kaspi's orders, as the scheduled `sync.poll` task runs it."""
    return run_stream(world.services.queue, OrdersStream(kaspi, **options))


def kaspi_order(world, code: str) -> dict[str, Any]:
    return next(o for o in world.state("kaspi")["orders"] if o["attributes"]["code"] == code)


def accruals(world, order: dict[str, Any]) -> list[str]:
    oid = order_id_for("kaspi", order["id"])
    with world.services.engine.connect() as connection:
        kinds = connection.scalars(
            select(loyalty_entries.c.kind).where(loyalty_entries.c.order_id == oid)
        )
        return list(kinds)


def test_a_kaspi_order_joins_the_shop_customer_with_that_phone_in_one_deal_and_one_accrual(world):
    world.shop_event(
        "customer.created",
        {"id": "S-1", "email": "aigerim@example.com", "phone": "+7 701 123 45 67"},
    )
    world.settle()
    order = place(world)

    outcome = poll_once(world.services, "kaspi", "orders")
    world.settle()

    assert outcome is not None and outcome.enqueued == 1
    assert world.dead_letters() == []
    [contact] = world.contacts()
    assert [p["VALUE"] for p in contact["PHONE"]] == ["+77011234567"]
    [deal] = world.deals()
    assert deal["CONTACT_ID"] == contact["ID"]
    assert deal["SOURCE_ID"] == "KASPI"  # mappings/kaspi/order.yaml: Kaspi's own source
    assert deal["ORIGIN_ID"] == order_id_for("kaspi", order["id"])
    assert float(deal["OPPORTUNITY"]) == 23980.0
    rows = world.state("bitrix24")["product_rows"][deal["ID"]]
    assert [(r["PRODUCT_NAME"], float(r["QUANTITY"])) for r in rows] == [("Наушники", 2.0)]
    assert accruals(world, order) == ["pending"]
    assert world.state("cdek")["orders"] == {}  # Kaspi or the merchant delivers it


def test_an_order_read_by_two_overlapping_polls_is_one_deal_and_one_accrual(world, kaspi):
    order = place(world, firstName="Дана", lastName="Ахметова")

    first = poll(world, kaspi)
    second = poll(world, kaspi)
    world.settle()
    third = poll(world, kaspi)  # after it ran: a status already applied
    world.settle()

    assert (first.enqueued, second.enqueued, third.enqueued) == (1, 0, 0)
    assert second.deduplicated == 1 and third.deduplicated == 1
    assert len(world.deals()) == 1 and len(world.contacts()) == 1
    assert accruals(world, order) == ["pending"]
    assert world.store_items("orders") == {}  # no e-mail: no Mailchimp order
    assert world.dead_letters() == []


def test_with_kaspi_and_the_crm_failing_a_fifth_of_calls_each_order_is_still_one_deal(world, kaspi):
    world.services.settings = world.services.settings.replace(kaspi_auto_accept=True)
    orders = [place(world, cellPhone=f"70112345{n:02d}") for n in range(3)]
    world.faults(0.2)
    world.sandbox.faults("kaspi", error_rate=0.2, statuses=[500, 502, 503], seed=11)

    for _ in range(3):
        with contextlib.suppress(TransientError):  # the queue would run it again: the next does
            poll(world, kaspi)
        world.settle(timeout=60)
    world.sandbox.faults("kaspi", error_rate=0.0)
    poll(world, kaspi)
    world.settle(timeout=60)

    assert world.dead_letters() == []
    assert sorted(d["ORIGIN_ID"] for d in world.deals()) == sorted(
        order_id_for("kaspi", o["id"]) for o in orders
    )
    assert [accruals(world, o) for o in orders] == [["pending"]] * 3
    assert {
        kaspi_order(world, o["attributes"]["code"])["attributes"]["status"] for o in orders
    } == {"ACCEPTED_BY_MERCHANT"}


def test_a_poll_killed_after_its_first_page_loses_and_doubles_nothing(world, kaspi):
    orders = [place(world, cellPhone=f"70198765{n:02d}") for n in range(3)]

    class Killed(Exception):
        pass

    def kill_after_first_page(outcome: Any, page: Any) -> None:
        raise Killed

    with pytest.raises(Killed):
        run_stream(
            world.services.queue, OrdersStream(kaspi, page_size=2), on_page=kill_after_first_page
        )
    poll(world, kaspi, page_size=2)
    world.settle()

    assert len(world.tasks_of("kaspi.order")) == 3
    assert len(world.deals()) == 3
    assert [accruals(world, o) for o in orders] == [["pending"]] * 3


def test_a_new_order_is_accepted_for_the_merchant_when_auto_accept_is_on(world, kaspi):
    world.services.settings = world.services.settings.replace(kaspi_auto_accept=True)
    order = place(world)

    poll(world, kaspi)
    world.settle()
    poll(world, kaspi)  # sees it accepted: a new status, nothing new for the hub
    world.settle()

    kept = kaspi_order(world, order["attributes"]["code"])
    assert kept["attributes"]["status"] == "ACCEPTED_BY_MERCHANT"
    assert [c["by"] for c in world.state("kaspi")["changes"]] == ["merchant"]
    [deal] = world.deals()
    assert deal["STAGE_ID"] == "EXECUTING"
    assert len(world.writes(system="kaspi", action="accept")) == 1
    assert accruals(world, order) == ["pending"]


@pytest.mark.parametrize(
    ("kaspi_status", "stage"), [("CANCELLED", "LOSE"), ("RETURNED", "APOLOGY")]
)
def test_a_kaspi_cancellation_or_return_moves_the_deal_and_reverses_the_bonus(
    world, kaspi, kaspi_status, stage
):
    order = place(world)
    poll(world, kaspi)
    world.settle()

    world.control("kaspi", f"/orders/{order['attributes']['code']}/status", status=kaspi_status)
    poll(world, kaspi)
    world.settle()

    [deal] = world.deals()
    assert deal["STAGE_ID"] == stage  # cancelled / refunded in mappings/bitrix24/stage_map.yaml
    assert accruals(world, order) == ["pending", "reversal"]
    assert world.dead_letters() == []


def test_a_deal_lost_in_the_crm_cancels_the_kaspi_order(world, kaspi):
    order = place(world)
    poll(world, kaspi)
    world.settle()
    [deal] = world.deals()

    world.next_second()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="LOSE")
    world.settle()
    poll(world, kaspi)  # Kaspi now says CANCELLED: already the hub's status
    world.settle()

    kept = kaspi_order(world, order["attributes"]["code"])
    assert kept["attributes"]["status"] == "CANCELLED"
    assert kept["attributes"]["cancellationReason"] == "BUYER_CANCELLATION_BY_MERCHANT"
    assert len(world.writes(system="kaspi", action="cancel")) == 1
    assert accruals(world, order) == ["pending", "reversal"]
    assert world.dead_letters() == []


def test_setup_proves_the_token_and_says_how_kaspi_orders_are_taken(
    sandbox_env, fresh_sandbox, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from connector.cli import main

    for _ in range(2):
        fresh_sandbox.control("kaspi", "POST", "/orders", json={"cellPhone": PHONE})
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'connector.db'}")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")

    done = CliRunner().invoke(main, ["setup", "kaspi", "--env-file", str(env_file)])
    monkeypatch.setenv("CONNECTOR_KASPI_TOKEN", "not-the-token")
    refused = CliRunner().invoke(main, ["setup", "kaspi", "--env-file", str(env_file)])

    assert done.exit_code == 0, done.output
    assert "access: ok (2 new orders waiting for acceptance" in done.output
    assert "automatic acceptance of new orders: off" in done.output
    assert "are read in KZ" in done.output  # mappings/kaspi: Kaspi writes no +7
    assert refused.exit_code != 0 and "401" in refused.output
    assert "not-the-token" not in refused.output


def test_a_full_sync_imports_older_orders_and_polling_goes_on_from_where_it_began(world, kaspi):
    from connector.sync.cursors import read_cursor
    from connector.sync.full import FullSync

    now = int(time.time() * 1000)
    old = place(world, creationDate=now - 20 * DAY_MS)  # before any poll's re-read span
    recent = place(world, creationDate=now - 2 * DAY_MS)

    [report] = FullSync(world.services).run("kaspi")
    world.settle()
    after = poll(world, kaspi)

    assert report.status == "complete" and report.outcome.enqueued == 2
    assert after.enqueued == 0  # the poll re-reads the recent one: already queued
    assert sorted(d["ORIGIN_ID"] for d in world.deals()) == sorted(
        order_id_for("kaspi", o["id"]) for o in (old, recent)
    )
    assert read_cursor(world.services.engine, "kaspi", "orders")["created"] >= now
