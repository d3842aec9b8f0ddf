"""The registry: what the connector knows of each system comes from the system's declaration."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Blueprint
from sqlalchemy import select

from connector.app import create_app
from connector.cli import main
from connector.flows import hub
from connector.scheduler import active_jobs
from connector.services import Services
from connector.store.tables import tasks
from connector.sync.full import full_streams, polling_start
from connector.sync.polling import polled_stream
from connector.sync.trace import task_target
from connector.systems.registry import (
    ENTRY_POINT_GROUP,
    Registry,
    System,
    all_set,
    payload_record,
)
from jobs import Job
from tests.support import make_settings

# The ordering keys push tasks carried before the registry existed (flows/hub.py PUSH_KEYS).
PUSH_KEYS_BEFORE = {
    "push.bitrix24.contact": "contact:bitrix24:{id}",
    "push.bitrix24.deal": "deal:bitrix24:{id}",
    "push.bitrix24.balance": "contact:bitrix24:{id}",
    "push.mailchimp.member": "member:mailchimp:{id}",
    "push.mailchimp.balance": "member:mailchimp:{id}",
    "push.mailchimp.event": "member:mailchimp:{id}",
    "push.mailchimp.order": "order:mailchimp:{id}",
    "push.mailchimp.cart": "cart:mailchimp:{id}",
    "push.woocommerce.order": "order:woocommerce:{id}",
    "push.woocommerce.customer": "customer:woocommerce:{id}",
    "push.shop.order": "order:shop:{id}",
    "push.shop.customer": "customer:shop:{id}",
}


def marketplace_order(ctx: Any, payload: dict[str, Any]) -> None:
    """The handler a plug-in system declares for its push kind."""


def marketplace_routes() -> Blueprint:
    routes = Blueprint("marketplace", __name__, url_prefix="/webhooks/marketplace")
    routes.add_url_rule("/", "hook", lambda: ("taken", 202), methods=["POST"])
    return routes


def marketplace_orders(services: Any, options: dict[str, Any]) -> Any:
    return SimpleNamespace(options=options)


MARKETPLACE = System(
    name="marketplace",
    title="A marketplace installed as a plug-in",
    configured=all_set("public_url"),
    client=lambda services: SimpleNamespace(name="marketplace client"),
    task_handlers={"push.marketplace.order": marketplace_order},
    blueprint=marketplace_routes,
    streams={"orders": marketplace_orders},
    jobs=[
        Job(
            "poll-marketplace-orders",
            "sync.poll",
            60,
            {"system": "marketplace", "stream": "orders"},
            needs=("marketplace",),
        )
    ],
    setup=lambda settings, **options: [f"marketplace webhook -> {settings.public_url}: created"],
    full_sync={"buyers": marketplace_orders, "orders": marketplace_orders},
    trace=payload_record("order"),
    receives={"order"},
    sends={"order"},
)


def plugged_in(*systems: System):  # noqa: ANN201 - stands in for importlib.metadata.entry_points
    points = [SimpleNamespace(name=s.name, load=lambda s=s: s) for s in systems]

    def entry_points(group: str) -> list[SimpleNamespace]:
        return points if group == ENTRY_POINT_GROUP else []

    return entry_points


def test_the_built_in_systems_are_found_in_fan_out_order() -> None:
    registry = Registry.discover(entry_points=plugged_in())
    assert registry.names()[:6] == [
        "bitrix24",
        "mailchimp",
        "woocommerce",
        "shop",
        "cdek",
        "novaposhta",
    ]


def test_an_installed_package_adds_a_system_through_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", plugged_in(MARKETPLACE))
    registry = Registry.discover()
    assert "marketplace" in registry
    assert registry.get("marketplace") is MARKETPLACE
    assert registry.push_key("push.marketplace.order", "A-1") == "order:marketplace:A-1"


def test_a_broken_plug_in_is_logged_and_the_other_systems_still_load(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> System:
        raise ImportError("no module named connector_broken")

    points = [SimpleNamespace(name="broken", load=broken)]
    registry = Registry.discover(entry_points=lambda group: points)
    assert "bitrix24" in registry and "broken" not in registry
    assert "connector_broken" in caplog.text


def test_push_tasks_keep_the_ordering_keys_they_had_before_the_registry() -> None:
    registry = Registry.discover(entry_points=plugged_in())
    for kind, key in PUSH_KEYS_BEFORE.items():
        assert registry.push_key(kind, "42") == key.format(id="42"), kind


def test_the_fan_out_is_the_one_the_hub_listed_before_the_registry() -> None:
    registry = Registry.discover(entry_points=plugged_in())
    assert [(s.name, kind) for s, kind in registry.receivers("order")] == [
        ("bitrix24", "push.bitrix24.deal"),
        ("mailchimp", "push.mailchimp.order"),
        ("woocommerce", "push.woocommerce.order"),
        ("shop", "push.shop.order"),
        ("kaspi", "push.kaspi.order"),  # the first system added through the registry
    ]
    assert [s.name for s in registry if s.linked_only] == ["woocommerce", "shop", "kaspi"]


@pytest.fixture
def plugged_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setattr(importlib.metadata, "entry_points", plugged_in(MARKETPLACE))
    services = Services(
        make_settings(tmp_path, public_url="https://connector.example", mailchimp_api_key="k-us1")
    )
    yield services
    services.close()


def queued(services: Services) -> list[tuple[str, str | None]]:
    with services.engine.connect() as connection:
        rows = connection.execute(select(tasks.c.kind, tasks.c.ordering_key).order_by(tasks.c.id))
        return [(kind, key) for kind, key in rows]


def test_a_system_declaring_it_receives_orders_gets_their_push_task(plugged_services) -> None:
    with plugged_services.engine.begin() as connection:
        hub.fan_out(connection, plugged_services, "order", "o-1", exclude=None)
    assert queued(plugged_services) == [
        ("push.mailchimp.order", "order:mailchimp:o-1"),
        ("push.marketplace.order", "order:marketplace:o-1"),
    ]


def test_the_system_an_order_came_from_gets_no_push_of_it(plugged_services) -> None:
    with plugged_services.engine.begin() as connection:
        hub.fan_out(connection, plugged_services, "order", "o-1", exclude="marketplace")
    assert queued(plugged_services) == [("push.mailchimp.order", "order:mailchimp:o-1")]


def test_a_plug_in_system_gets_its_client_handlers_and_status_from_its_declaration(
    plugged_services,
) -> None:
    assert plugged_services.enabled("marketplace")
    assert plugged_services.client("marketplace").name == "marketplace client"
    assert plugged_services.marketplace is plugged_services.client("marketplace")
    assert plugged_services.registry.handler("push.marketplace.order") is marketplace_order
    assert plugged_services.systems.get("marketplace").status_line(plugged_services) == "on"
    assert not plugged_services.enabled("bitrix24")


def test_a_plug_in_system_mounts_its_webhook_routes_polls_its_streams_and_schedules_its_jobs(
    plugged_services,
) -> None:
    answer = create_app(plugged_services).test_client().post("/webhooks/marketplace/")
    assert (answer.status_code, answer.get_data(as_text=True)) == (202, "taken")
    stream = polled_stream(plugged_services, "marketplace", "orders", lookback=60, other=1)
    assert stream.options == {"lookback": 60}
    assert "poll-marketplace-orders" in {job.name for job in active_jobs(plugged_services)}


def test_connector_setup_offers_and_runs_the_setup_a_system_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", plugged_in(MARKETPLACE))
    env_file = tmp_path / "site.env"
    env_file.write_text("CONNECTOR_PUBLIC_URL=https://connector.example\n")
    done = CliRunner().invoke(main, ["setup", "marketplace", "--env-file", str(env_file)])
    assert done.exit_code == 0, done.output
    assert "marketplace webhook -> https://connector.example: created" in done.output
    refused = CliRunner().invoke(main, ["setup", "novaposhta", "--env-file", str(env_file)])
    assert refused.exit_code == 2
    assert "'novaposhta' is not one of bitrix24, mailchimp" in refused.output
    assert "marketplace" in refused.output


def test_trace_asks_each_system_which_record_its_inbound_task_is_about() -> None:
    registry = Registry.discover(entry_points=plugged_in(MARKETPLACE))
    assert task_target("marketplace.order", {"data": {"id": 5}}, registry) == (
        "marketplace",
        "order",
        "5",
    )
    assert task_target("bitrix24.event", {"entity": "deal", "id": "9"}, registry) == (
        "bitrix24",
        "order",
        "9",
    )
    assert task_target("woocommerce.product", {"id": 1}, registry) is None
    assert task_target("unknown.order", {"id": 1}, registry) is None


def test_the_full_sync_reads_the_streams_a_system_declares_in_their_order(plugged_services) -> None:
    streams = full_streams(plugged_services)
    assert streams["marketplace"] == ("buyers", "orders")
    assert streams["woocommerce"] == ("customers", "products", "orders")
    assert polling_start(plugged_services, "marketplace", "orders", 0.0) == {
        "since": "1970-01-01T00:00:00+00:00"
    }
    assert polling_start(plugged_services, "woocommerce", "orders", 0.0) == {
        "modified": "1970-01-01T00:00:00"
    }


def test_a_configured_system_tells_its_own_chapter_of_the_demo(monkeypatch):
    from types import SimpleNamespace

    from connector import demo as demo_module
    from connector.systems.registry import System

    told: list[tuple[str, int]] = []
    on = System(
        name="on",
        title="On",
        configured=lambda _s: True,
        demo=lambda d, s, n: told.append(("on", n)),
    )
    off = System(
        name="off",
        title="Off",
        configured=lambda _s: False,
        demo=lambda d, s, n: told.append(("off", n)),
    )
    quiet = System(name="quiet", title="Quiet", configured=lambda _s: True)
    services = SimpleNamespace(settings=object(), systems=[off, on, quiet, on])
    following = demo_module.chapters(SimpleNamespace(services=services), object(), first=6)
    assert told == [("on", 6), ("on", 7)]
    assert following == 8
