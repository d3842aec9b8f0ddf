"""The exporter skeleton: a system supplies the plan, the skeleton writes, audits and links."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import change_snapshot
from connector.identity import link_of
from connector.store.tables import audit


class Marketplace:
    """A stand-in client that counts the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def create(self, fields: dict[str, Any]) -> str:
        self.calls.append(("create", fields))
        return "M-1"

    def update(self, record_id: str, fields: dict[str, Any]) -> None:
        self.calls.append(("update", record_id))


class MarketplaceCustomers(Exporter):
    system, entity = "marketplace", "customer"

    def plan(self, push: Push) -> Plan | None:
        fields = {"mail": push.record["email"]}
        if push.link is None:
            write = Write("marketplace", "buyer", "add", None, lambda c: c.create(fields))
            write.creates = True
            return Plan([write], fingerprint="fp-1")
        record_id = push.link.external_id
        update = Write(
            "marketplace", "buyer", "update", record_id, lambda c: c.update(record_id, fields)
        )
        return Plan([update], external_id=record_id, fingerprint="fp-2")


class Gathering:
    """An executor that takes the commands first and runs them later, as a batch would."""

    def __init__(self, client: Marketplace) -> None:
        self.client, self.gathered = client, []

    def __call__(self, ctx: Any, writes: list[Write]) -> list[Any]:
        self.gathered.append([(w.system, w.action) for w in writes])
        assert self.client.calls == []  # the plan made no call of its own
        return [write.call(self.client) for write in writes]


def hub_customer(services: Any, email: str) -> None:
    with services.engine.begin() as connection:
        change_snapshot(connection, "customer", "c1", lambda _: {"id": "c1", "email": email})


def run(services: Any, executor: Gathering) -> None:
    ctx = SimpleNamespace(services=services, task=SimpleNamespace(id=7, enqueued_at=0.0))
    MarketplaceCustomers(executor)(ctx, {"id": "c1"})


def audited(services: Any) -> list[tuple[str, str, str | None, str | None]]:
    query = select(audit.c.system, audit.c.action, audit.c.external_id, audit.c.canonical_id)
    with services.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(audit.c.id))]


def test_a_first_push_creates_the_record_audits_it_and_links_it_with_its_fingerprint(services):
    hub_customer(services, "ann@example.com")
    executor = Gathering(Marketplace())
    run(services, executor)
    assert executor.gathered == [[("marketplace", "add")]]
    assert executor.client.calls == [("create", {"mail": "ann@example.com"})]
    link = link_of(services.engine, "customer", "c1", "marketplace")
    assert (link.external_id, link.fingerprint) == ("M-1", "fp-1")
    assert audited(services) == [("marketplace", "add", "M-1", "c1")]


def test_a_later_push_updates_the_linked_record_and_keeps_its_id(services):
    hub_customer(services, "ann@example.com")
    run(services, Gathering(Marketplace()))
    again = Gathering(Marketplace())
    run(services, again)
    assert again.client.calls == [("update", "M-1")]
    link = link_of(services.engine, "customer", "c1", "marketplace")
    assert (link.external_id, link.fingerprint) == ("M-1", "fp-2")
    assert [row[1] for row in audited(services)] == ["add", "update"]


def test_a_record_the_hub_does_not_hold_is_not_pushed(services):
    executor = Gathering(Marketplace())
    run(services, executor)
    assert executor.gathered == [] and audited(services) == []
    assert link_of(services.engine, "customer", "c1", "marketplace") is None
