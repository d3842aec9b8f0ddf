"""The world of a delivery story: the sandbox, the connector's web app on a loopback port (the
shop's and CDEK's webhooks reach it), its store, and a worker that runs tasks until all settled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector.app import create_app
from connector.audit import writes
from connector.flows.hub import load_snapshot
from connector.identity import find_link
from connector.sandbox.runner import serve
from connector.services import Services
from connector.store.tables import inbound_events, tasks
from connector.worker import Worker
from tests.support import make_settings, register_connector

B24_TOKEN = "delivery-application-token"


class World:
    """The systems of the story, and the verbs the stories use."""

    def __init__(self, sandbox: Any, services: Services, url: str) -> None:
        self.sandbox, self.services, self.url = sandbox, services, url
        self.worker = Worker(services, threads=1, name="delivery")
        self.http = requests.Session()
        self.http.trust_env = False

    # -- settling ---------------------------------------------------------------------------

    def _count(self, query: Any) -> int:
        with self.services.engine.connect() as connection:
            return int(connection.scalar(query))

    def unfinished(self) -> int:
        due = tasks.c.state.in_(("waiting", "running")) | (
            (tasks.c.state == "queued") & (tasks.c.run_at <= time.time() + 1.0)
        )
        return self._count(select(func.count()).select_from(tasks).where(due))

    def settle(self, timeout: float = 30.0) -> None:
        """Runs tasks and lets webhooks arrive until nothing is left to do."""
        deadline, quiet = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            seen = self._count(select(func.count()).select_from(inbound_events))
            self.worker.run_until_idle(timeout=10)
            for name in ("woocommerce", "mailchimp", "cdek"):
                self.sandbox.control(name, "POST", "/deliveries/wait?timeout=10")
            self.sandbox.control("bitrix24", "GET", "/events?wait=5")
            inbound = self._count(select(func.count()).select_from(inbound_events))
            if self.unfinished() == 0 and inbound == seen:
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
                time.sleep(0.02)
        raise AssertionError(f"not settled in {timeout}s: {self.services.queue.stats()}")

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.services.queue.dead_letters()

    def tasks_of(self, kind: str) -> list[dict[str, Any]]:
        with self.services.engine.connect() as connection:
            rows = connection.execute(
                select(tasks).where(tasks.c.kind == kind).order_by(tasks.c.id)
            )
            return [dict(row) for row in rows.mappings()]

    def writes(self, **where: Any) -> list[dict[str, Any]]:
        return writes(self.services.engine, **where)

    # -- the emulators ----------------------------------------------------------------------

    def state(self, name: str) -> dict[str, Any]:
        return self.sandbox.control(name, "GET", "/state").json()

    def control(self, name: str, path: str, **body: Any) -> dict[str, Any]:
        response = self.sandbox.control(name, "POST", path, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def guest_order(self, email: str, phone: str, shipping: dict[str, str]) -> dict[str, Any]:
        """A guest buys two items and pays; the shop's webhooks bring the order in."""
        cart = self.control("woocommerce", "/shopper/carts")
        self.control("woocommerce", f"/shopper/carts/{cart['id']}/items", product_id=93, quantity=2)
        billing = {"email": email, "phone": phone, "first_name": "Olena", "last_name": "Koval"}
        path = f"/shopper/carts/{cart['id']}/checkout"
        return self.control("woocommerce", path, billing=billing, shipping=shipping, pay=True)[
            "order"
        ]

    def shop_order(self, order_id: int) -> dict[str, Any]:
        return next(o for o in self.state("woocommerce")["orders"] if o["id"] == order_id)

    def order_id(self, shop_id: int) -> str:
        link = find_link(self.services.engine, "order", "woocommerce", shop_id)
        assert link is not None, "the order flow did not link the shop order"
        return link.canonical_id

    def snapshot(self, order_id: str) -> dict[str, Any]:
        found = load_snapshot(self.services.engine, "order", order_id)
        assert found is not None
        return found

    def deal(self) -> dict[str, Any]:
        [deal] = self.state("bitrix24")["deals"]
        return deal

    def comments(self) -> list[str]:
        return [c["COMMENT"] for c in self.state("bitrix24")["timeline_comments"]]

    def member_events(self, email: str) -> list[str]:
        state = self.state("mailchimp")
        list_id = self.services.settings.mailchimp_list_id
        found = []
        for key, events in state["events"].items():
            member_id = key.split(":", 1)[1]
            member = state["members"][list_id].get(member_id) or {}
            if key.startswith(f"{list_id}:") and member.get("email_address") == email:
                found += [e["name"] for e in events]
        return found


@pytest.fixture
def world(fresh_sandbox: Any, tmp_path: Any, store_url: str) -> Iterator[World]:
    env = {
        key.removeprefix("CONNECTOR_").lower(): value
        for key, value in fresh_sandbox.settings_env().items()
    }
    settings = make_settings(
        tmp_path,
        **env,
        database_url=store_url,
        queue_backoff_base=0.01,
        queue_backoff_max=0.05,
        queue_max_attempts=30,
        bitrix24_application_token=B24_TOKEN,
    )
    services = Services(settings)
    served = serve(create_app(services))
    try:
        register_connector(services, served.url, fresh_sandbox, B24_TOKEN)
        secret = services.settings.cdek_webhook_secret
        services.cdek.subscribe_webhook(f"{served.url}/webhooks/cdek/{secret}")
        yield World(fresh_sandbox, services, served.url)
    finally:
        served.stop()
        services.close()
