"""Echo and stale detection: our own write coming back, and an old event, change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from connector.flows.customers import ingest_customer
from connector.flows.hub import changed_since, load_snapshot, merge_values
from connector.flows.orders import ingest_order, order_events
from connector.identity import Link, fingerprint, is_echo, is_stale, link_of


def link(**values) -> Link:
    base = {
        "entity": "order",
        "canonical_id": "o",
        "system": "woocommerce",
        "external_id": "1",
        "fingerprint": None,
        "version": None,
        "data": {},
    }
    return Link(**(base | values))


def test_fingerprints_ignore_how_a_system_prints_numbers_and_times():
    utc = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)
    kyiv = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert fingerprint({"total": Decimal("3.00"), "at": utc}) == fingerprint(
        {"total": Decimal("3"), "at": kyiv}
    )
    assert fingerprint({"status": "WON"}) != fingerprint({"status": "LOSE"})
    assert fingerprint({"a": 1, "b": None}, ["a", "b"]) == fingerprint(
        {"a": 1, "b": ""}, ["a", "b"]
    )


def test_an_event_older_than_the_applied_version_is_stale():
    applied = link(version="2026-11-21T10:00:00+00:00")
    assert is_stale(applied, "2026-11-21T09:59:59")  # WooCommerce *_gmt: naive UTC
    assert is_stale(applied, "2026-11-21 09:00:00")  # Mailchimp fired_at
    an_hour_before = dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC).timestamp()
    assert is_stale(applied, str(int(an_hour_before)))  # Bitrix24 ts: unix seconds
    assert not is_stale(applied, "2026-11-21T10:00:00")  # same second: read fresh and compare
    assert not is_stale(applied, None) and not is_stale(None, "2026-01-01")


def test_an_echo_hashes_as_what_we_wrote():
    written = fingerprint({"status": "completed"})
    assert is_echo(link(fingerprint=written), fingerprint({"status": "completed"}))
    assert not is_echo(link(fingerprint=written), fingerprint({"status": "cancelled"}))
    assert not is_echo(None, written)


def test_only_what_a_system_changed_is_applied():
    seen = {"status": "completed", "note": "old"}
    fresh = {"status": "completed", "note": "new"}
    assert changed_since(fresh, seen) == {"note": "new"}
    hub = {"status": "shipped", "note": "old", "custom": {"a": 1}}
    assert merge_values(hub, {"note": "new", "custom": {"b": 2}, "email": None}) == {
        "status": "shipped",
        "note": "new",
        "custom": {"a": 1, "b": 2},
    }
    assert merge_values({"email": "x@y.z"}, {"email": "a@b.c", "phone": "+1"}, fill_only=True) == {
        "email": "x@y.z",
        "phone": "+1",
    }


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, {"status": "pending"}, []),
        ({"status": "pending"}, {"status": "processing"}, [("paid", None)]),
        (None, {"status": "completed"}, [("paid", None), ("delivered", None)]),
        ({"status": "processing"}, {"status": "cancelled"}, [("cancelled", None)]),
        (
            {"status": "processing", "custom": {"refunded_total": "-2"}},
            {"status": "processing", "custom": {"refunded_total": "-5.50"}},
            [("refunded", "3.50")],
        ),
        (
            {"status": "completed", "total": "10"},
            {"status": "refunded", "total": "10"},
            [("refunded", "10")],
        ),
        ({"status": "processing"}, {"status": "processing"}, []),
    ],
)
def test_order_transitions_for_the_ledger(before, after, expected):
    assert [(e["event"], e.get("amount")) for e in order_events(before, after)] == expected


def context(services) -> SimpleNamespace:
    services.enabled = lambda system: False  # no targets: only the hub is written
    return SimpleNamespace(services=services, task=SimpleNamespace(id=1, enqueued_at=0.0))


def test_a_repeated_customer_record_changes_nothing_and_an_older_one_is_dropped(services):
    ctx = context(services)
    record = {"email": "a@example.com", "first_name": "Ann", "updated_at": "2026-11-21T10:00:00"}
    cid = ingest_customer(ctx, "shop", "S-1", record, record["updated_at"])
    assert cid is not None
    assert ingest_customer(ctx, "shop", "S-1", record, record["updated_at"]) is None
    older = record | {"first_name": "Old", "updated_at": "2026-11-21T09:00:00"}
    assert ingest_customer(ctx, "shop", "S-1", older, older["updated_at"]) is None
    assert load_snapshot(services.engine, "customer", cid)["first_name"] == "Ann"


def test_an_order_echo_is_dropped_and_a_real_change_applied(services):
    ctx = context(services)
    order = {
        "id": "7",
        "status": "processing",
        "total": Decimal("9.00"),
        "email": "b@example.com",
        "updated_at": dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC),
    }
    oid = ingest_order(ctx, "woocommerce", "7", order, "2026-11-21T10:00:00")
    assert oid == "woocommerce-7"
    assert ingest_order(ctx, "woocommerce", "7", dict(order), "2026-11-21T10:00:00") is None
    changed = order | {"status": "completed"}
    assert ingest_order(ctx, "woocommerce", "7", changed, "2026-11-21T10:00:05") == oid
    snapshot = load_snapshot(services.engine, "order", oid)
    assert snapshot["status"] == "completed" and snapshot["customer_id"]
    assert link_of(services.engine, "order", oid, "woocommerce").version.startswith(
        "2026-11-21T10:00:05"
    )


class CountingShop:
    """A WooCommerce client that counts reads and serves one order."""

    def __init__(self, order: dict) -> None:
        self.order, self.reads = order, 0

    def get_order(self, order_id: int) -> dict:
        self.reads += 1
        return self.order


def test_a_stale_woocommerce_webhook_is_dropped_before_any_call(services):
    from connector.flows.orders import woocommerce_order

    ctx = context(services)
    shop = CountingShop(
        {
            "id": 9,
            "status": "processing",
            "total": "5.00",
            "customer_id": 0,
            "billing": {"email": "c@example.com"},
            "line_items": [],
            "date_modified_gmt": "2026-11-21T10:00:00",
        }
    )
    services.__dict__["woocommerce"] = shop
    woocommerce_order(ctx, {"id": 9, "event": "updated", "modified": "2026-11-21T10:00:00"})
    assert shop.reads == 1
    woocommerce_order(ctx, {"id": 9, "event": "updated", "modified": "2026-11-21T09:59:00"})
    assert shop.reads == 1  # older than what was applied: not even read
    woocommerce_order(ctx, {"id": 9, "event": "updated", "modified": "2026-11-21T10:00:00"})
    assert shop.reads == 2  # same second: read fresh, found unchanged
    assert link_of(services.engine, "order", "woocommerce-9", "woocommerce") is not None
