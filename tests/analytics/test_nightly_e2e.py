"""The whole way, on the sandbox: a customer's orders set their segment in the CRM field and the
Mailchimp tag; time alone moves them into At risk in the nightly run, which records the
transition and sends Mailchimp exactly one member event and tag for it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from connector.analytics.keeper import recompute_all, transitions_of
from connector.identity import find_link
from connector.store.tables import customer_figures
from tests.e2e.conftest import World, open_world

DAY = 86400.0


@pytest.fixture
def world(fresh_sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str) -> Iterator[World]:
    with open_world(World, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        yield built


class Clock:
    """The real time plus a shift the story moves forward."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def order(number: int, days_ago: int) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return {
        "id": f"RFM-{number}",
        "number": str(number),
        "status": "paid",
        "currency": "EUR",
        "totals": {"total": "40.00"},
        "customer": {"id": "C-RFM", "email": "rita@example.com", "phone": "+4915112340000"},
        "lines": [
            {
                "id": "1",
                "sku": "MUG",
                "name": "Mug",
                "quantity": 1,
                "price": "40.00",
                "total": "40.00",
            }
        ],  # fmt: skip
        "created_at": at.isoformat(),
        "updated_at": at.isoformat(),
    }


def member(world: World) -> dict[str, Any]:
    [found] = [m for m in world.members().values() if m["email_address"] == "rita@example.com"]
    return found


def segment_events(world: World) -> list[str]:
    events = world.state("mailchimp")["events"]
    return [e["name"] for per_member in events.values() for e in per_member]


def test_time_alone_moves_a_customer_into_at_risk_once_in_the_crm_and_mailchimp(world):
    clock = Clock()
    world.services.queue.clock = clock
    for number, days in enumerate((80, 75, 70), 1):
        world.shop_event("order.created", order(number, days))
    world.settle()
    clock.shift = 10  # past the coalescing bucket of the order-time pushes
    world.settle()

    [contact] = world.contacts()
    assert contact["UF_CRM_RFM_SEGMENT"] == "Need attention"  # R 3 (70 days), F 3
    assert float(contact["UF_CRM_LTV"]) == 120.0
    assert [t["name"] for t in member(world)["tags"]] == ["RFM: Need attention"]
    assert member(world)["merge_fields"]["RFM_SEG"] == "Need attention"

    clock.shift = 30 * DAY  # a month of silence: 100 days since the last order
    report = recompute_all(world.services)
    world.settle()

    assert report.transitions == 1
    [contact] = world.contacts()
    assert contact["UF_CRM_RFM_SEGMENT"] == "At risk"
    assert [t["name"] for t in member(world)["tags"]] == ["RFM: At risk"]
    assert segment_events(world).count("rfm_at_risk") == 1
    cid = find_link(world.services.engine, "customer", "shop", "C-RFM").canonical_id
    last = transitions_of(world.services.engine, cid)[-1]
    assert (last["from_segment"], last["to_segment"], last["cause"]) == (
        "Need attention",
        "At risk",
        "nightly",
    )

    # the next night finds nothing new: no second event, tag or write
    writes = len(world.writes(action="figures"))
    clock.shift = 31 * DAY
    assert recompute_all(world.services).transitions == 0
    world.settle()
    assert segment_events(world).count("rfm_at_risk") == 1
    assert len(world.writes(action="figures")) == writes
    assert world.dead_letters() == []


def test_a_contact_deleted_in_the_crm_leaves_no_dead_figures_push_and_gets_every_field_later(world):
    """The deletion is a drift the reconcile repairs; the figures push must not die of it."""
    clock = Clock()
    world.services.queue.clock = clock
    for number, days in enumerate((80, 75, 70), 1):
        world.shop_event("order.created", order(number, days))
    world.settle()
    clock.shift = 10
    world.settle()
    [contact] = world.contacts()
    world.crm("/act/contact", id=contact["ID"], action="delete")

    clock.shift = 30 * DAY  # the nightly run has a change to write: the segment moved
    assert recompute_all(world.services).transitions == 1
    world.settle()

    assert world.dead_letters() == []
    cid = find_link(world.services.engine, "customer", "shop", "C-RFM").canonical_id
    with world.services.engine.connect() as connection:
        published = connection.execute(
            select(customer_figures.c.published).where(customer_figures.c.customer_id == cid)
        ).scalar()
    assert published["bitrix24"] == {}  # the recreated contact is written in full
    assert [t["name"] for t in member(world)["tags"]] == ["RFM: At risk"]  # Mailchimp went on
