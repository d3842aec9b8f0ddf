"""`connector trace`: a customer's links, orders, consent, events and dead letters."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from connector.cli import main
from connector.errors import PermanentError
from connector.store.tables import identity_keys, inbound_events, links
from connector.sync.trace import BadQuery, default_region, phone_e164, trace_customer

CID, OID = "c0123456789abcdef", "woocommerce-1001"


def link(entity, canonical_id, system, external_id, data=None):
    return {
        "entity": entity,
        "canonical_id": canonical_id,
        "system": system,
        "external_id": external_id,
        "data": data,
        "updated_at": time.time(),
    }


def dead_task(services, kind, payload):
    queue = services.queue
    queue.enqueue(kind, payload)
    [task] = queue.claim("test", limit=1)
    queue.fail(task, "test", PermanentError("refused"))
    return task.id


def event(connection, source, delivery_id, body):
    connection.execute(
        insert(inbound_events).values(
            source=source,
            delivery_id=delivery_id,
            topic=f"{source}.topic",
            received_at=time.time(),
            body=body,
        )
    )


@pytest.fixture
def story(services):
    """Ann: a WooCommerce customer and order, in Bitrix24 and Mailchimp; and Joann, unrelated."""
    snapshot = {"first_name": "Ann", "email": "ann@example.com", "phone": "+15551234567"}
    # as webhooks.py queues them: the task's dedupe key names the inbound event
    services.queue.enqueue(
        "woocommerce.order",
        {"id": 1001, "modified": "x"},
        dedupe_key="inbound:woocommerce:order.updated:1001:x",
    )
    services.queue.enqueue(
        "woocommerce.order",
        {"id": 2002, "modified": "x"},
        dedupe_key="inbound:woocommerce:order.updated:2002:x",
    )
    [claimed_a, claimed_b] = services.queue.claim("test", limit=2)
    services.queue.complete_many([claimed_a, claimed_b], "test")
    with services.engine.begin() as connection:
        connection.execute(
            insert(identity_keys),
            [
                {"kind": "email", "value": "ann@example.com", "canonical_id": CID},
                {"kind": "phone", "value": "+15551234567", "canonical_id": CID},
                {"kind": "card", "value": "CARD-7", "canonical_id": CID},
            ],
        )
        connection.execute(
            insert(links),
            [
                link("customer", CID, "hub", CID, snapshot | {"marketing_consent": True}),
                link("customer", CID, "woocommerce", "17"),
                link("customer", CID, "bitrix24", "5"),
                link("customer", CID, "mailchimp", "ann@example.com", {"consent": "subscribed"}),
                link("order", OID, "hub", OID, {"customer_id": CID, "status": "processing"}),
                link("order", OID, "woocommerce", "1001"),
                link("order", OID, "bitrix24", "9", {"status": "processing"}),
            ],
        )
        event(connection, "woocommerce", "order.updated:1001:x", "{}")
        event(connection, "woocommerce", "order.updated:2002:x", "{}")
        event(connection, "mailchimp", "m1", "type=profile&data%5Bemail%5D=ann%40example.com")
        event(connection, "shop", "s1", '{"customer": {"phone": "(555) 123-4567"}}')
        event(connection, "mailchimp", "m2", "type=profile&data%5Bemail%5D=joann%40example.com")
    dead = {
        "push": dead_task(services, "push.bitrix24.deal", {"id": OID}),
        "never_linked": dead_task(
            services, "shop.order", {"data": {"id": "77", "customer": {"email": "ANN@example.com"}}}
        ),
    }
    dead_task(
        services, "shop.order", {"data": {"id": "78", "customer": {"email": "joann@example.com"}}}
    )
    dead_task(services, "push.bitrix24.deal", {"id": f"{OID}2"})
    return dead


def test_trace_by_phone_in_any_spelling_finds_everything(services, story):
    found = trace_customer(services.engine, phone="(555) 123-4567", region="US")
    [ann] = found.customers
    assert ann["id"] == CID and ann["name"] == "Ann"
    assert {(k["kind"], k["value"]) for k in ann["keys"]} >= {("card", "CARD-7")}
    assert {(r["system"], r["id"]) for r in ann["links"]} == {
        ("woocommerce", "17"),
        ("bitrix24", "5"),
        ("mailchimp", "ann@example.com"),
    }
    assert ann["consent"] == {"hub": True, "mailchimp": "subscribed"}
    [order] = found.orders
    assert order["id"] == OID and order["status"] == "processing"
    assert {"system": "bitrix24", "id": "9", "status": "processing", "version": None} in order[
        "links"
    ]
    assert [e["source"] for e in found.events] == ["shop", "mailchimp", "woocommerce"]
    assert sorted(d["id"] for d in found.dead_letters) == sorted(story.values())


def test_keys_and_links_are_listed_in_one_order_on_every_store(services, story):
    """Sorted by kind and system, not in whatever order the store returns rows (without ORDER BY
    that is the order of insertion, of an index, or after updates anything on PostgreSQL)."""
    [ann] = trace_customer(services.engine, email="ann@example.com").customers
    assert [k["kind"] for k in ann["keys"]] == ["card", "email", "phone"]
    assert [r["system"] for r in ann["links"]] == ["bitrix24", "mailchimp", "woocommerce"]
    [order] = trace_customer(services.engine, email="ann@example.com").orders
    assert [r["system"] for r in order["links"]] == ["bitrix24", "woocommerce"]


def test_trace_by_email_is_the_same_customer(services, story):
    found = trace_customer(services.engine, email="Ann@Example.com")
    assert [c["id"] for c in found.customers] == [CID]
    assert len(found.dead_letters) == 2


def test_a_customer_never_linked_is_still_found_in_dead_letters(services):
    task_id = dead_task(
        services, "shop.customer", {"data": {"id": "1", "email": "new@example.com"}}
    )
    found = trace_customer(services.engine, email="new@example.com")
    assert found.customers == [] and [d["id"] for d in found.dead_letters] == [task_id]


def test_bad_queries_say_what_is_wrong(services):
    with pytest.raises(BadQuery, match="--phone: 'call me' is not a phone number"):
        phone_e164("call me", "US")
    with pytest.raises(BadQuery, match="--email"):
        trace_customer(services.engine, email="nobody")
    assert phone_e164("050 123 45 67", "UA") == "+380501234567"


def test_the_region_comes_from_the_mappings(services):
    assert default_region(services.mappings.current) == "RU"  # mappings/defaults.yaml


@pytest.fixture
def env_file(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
    path = tmp_path / "empty.env"
    path.write_text("")
    return str(path)


def test_the_command_prints_tables_or_json(services, story, env_file):
    human = CliRunner().invoke(
        main, ["trace", "--email", "ann@example.com", "--env-file", env_file]
    )
    assert human.exit_code == 0, human.output
    assert f"customer {CID}: Ann, ann@example.com, +15551234567" in human.stdout
    assert "bitrix24 9 (processing)" in human.stdout and "dead letters" in human.stdout
    as_json = CliRunner().invoke(
        main, ["trace", "--phone", "+1 555 123 4567", "--json", "--env-file", env_file]
    )
    assert json.loads(as_json.stdout)["customers"][0]["id"] == CID
    bad = CliRunner().invoke(main, ["trace", "--env-file", env_file])
    assert bad.exit_code == 2 and "exactly one of --phone or --email" in bad.stderr
