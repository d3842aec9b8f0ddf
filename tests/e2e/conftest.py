"""The world of an end-to-end story: the sandbox emulators, the connector's web app on a loopback
port (so the emulators' real webhooks reach it), its store and a worker that runs tasks until
everything has settled."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.app import create_app
from connector.audit import writes
from connector.http import RetryPolicy
from connector.services import Services
from connector.store.tables import inbound_events, tasks
from connector.systems import shop
from connector.worker import Worker
from connector_sandbox.runner import serve
from tests.support import make_settings, register_connector

B24_TOKEN = "e2e-application-token"
SHOP_SECRET = "whsec_c2hvcC1zZWNyZXQta2V5LWZvci1lMmU="
ARRIVALS = {
    "crm first": ("/webhooks/bitrix24", "/webhooks/woocommerce"),
    "shop first": ("/webhooks/woocommerce", "/webhooks/bitrix24"),
    "crm event lost": ("/webhooks/woocommerce",),
}


class Tap:
    """WSGI middleware in front of the connector: while `holding`, webhook POSTs are recorded
    and answered 200 without reaching the app, so a test can deliver them again, shuffled."""

    def __init__(self, app: Any) -> None:
        self.app, self.holding, self.held = app, False, []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if self.holding and path.startswith("/webhooks/") and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            headers = {
                key[5:].replace("_", "-").title(): value
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
            with self.lock:
                self.held.append((path, headers, body))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        return self.app(environ, start_response)


class World:
    """Everything a story needs, with the verbs the stories use."""

    # Emulators whose outgoing webhooks a story waits for before it calls the world settled.
    WEBHOOK_SOURCES: tuple[str, ...] = ("woocommerce", "mailchimp")

    def __init__(self, sandbox: Any, services: Services, url: str, tap: Tap) -> None:
        self.sandbox, self.services, self.url, self.tap = sandbox, services, url, tap
        self.client = tap.app.test_client()
        self.worker = Worker(services, threads=1, name="e2e")
        self.threaded: Worker | None = None
        self._thread: threading.Thread | None = None

    def run_threaded(self, threads: int = 4) -> None:
        """From now on tasks run on a real worker with `threads` threads, as in production."""
        self.threaded = Worker(self.services, threads=threads, poll_seconds=0.02, name="e2e-pool")
        self._thread = threading.Thread(target=self.threaded.run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.threaded is not None and self._thread is not None:
            self.threaded.stop()
            self._thread.join(timeout=10)

    # -- settling ---------------------------------------------------------------------------

    def unfinished(self, horizon: float = 1.0) -> int:
        """Tasks still to run now or within `horizon` seconds (a debounced task planned for
        later, such as the ledger's balance publication, does not hold a story up)."""
        due = (tasks.c.state.in_(("waiting", "running"))) | (
            (tasks.c.state == "queued") & (tasks.c.run_at <= time.time() + horizon)
        )
        with self.services.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(tasks).where(due))

    def inbound_count(self) -> int:
        with self.services.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(inbound_events))

    def wait_deliveries(self) -> None:
        for name in self.WEBHOOK_SOURCES:
            self.sandbox.control(name, "POST", "/deliveries/wait?timeout=10")
        self.sandbox.control("bitrix24", "GET", "/events?wait=5")

    def settle(self, timeout: float = 30.0) -> None:
        """Runs tasks and lets webhooks arrive until nothing is left to do."""
        deadline = time.monotonic() + timeout
        quiet_rounds = 0
        while time.monotonic() < deadline:
            seen = self.inbound_count()
            if self.threaded is None:
                self.worker.run_until_idle(timeout=10)
            else:
                time.sleep(0.05)
            self.wait_deliveries()
            if self.unfinished() == 0 and self.inbound_count() == seen:
                quiet_rounds += 1
                if quiet_rounds >= 2:
                    return
            else:
                quiet_rounds = 0
                time.sleep(0.02)
        raise AssertionError(f"not settled in {timeout}s: {self.services.queue.stats()}")

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.services.queue.dead_letters()

    def task_kinds(self) -> list[str]:
        with self.services.engine.connect() as connection:
            return list(connection.scalars(select(tasks.c.kind).order_by(tasks.c.id)))

    def due_tasks(self) -> list[dict[str, Any]]:
        """The unfinished tasks a worker could claim now."""
        now = self.services.queue.clock()
        with self.services.engine.connect() as connection:
            rows = connection.execute(
                select(tasks).where(tasks.c.state == "queued", tasks.c.run_at <= now)
            )
            return [dict(row) for row in rows.mappings()]

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
        """POSTs to an emulator's control API (acting as a shopper, manager, courier...)."""
        response = self.sandbox.control(name, "POST", path, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def shop(self, path: str, **body: Any) -> dict[str, Any]:
        return self.control("woocommerce", path, **body)

    def crm(self, path: str, **body: Any) -> dict[str, Any]:
        return self.control("bitrix24", path, **body)

    def subscriber(self, email: str, action: str, **body: Any) -> dict[str, Any]:
        list_id = self.services.settings.mailchimp_list_id
        path = f"/lists/{list_id}/members/{email}/{action}"
        response = self.sandbox.control("mailchimp", "POST", path, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def deals(self) -> list[dict[str, Any]]:
        return list(self.state("bitrix24")["deals"])

    def contacts(self) -> list[dict[str, Any]]:
        return list(self.state("bitrix24")["contacts"])

    def members(self) -> dict[str, dict[str, Any]]:
        state = self.state("mailchimp")
        return state["members"][self.services.settings.mailchimp_list_id]

    def store_items(self, collection: str) -> dict[str, Any]:
        state = self.state("mailchimp")
        return state["store_items"][self.services.settings.mailchimp_store_id][collection]

    def faults(self, rate: float, seed: int = 7) -> None:
        for name in ("woocommerce", "bitrix24", "mailchimp"):
            self.sandbox.faults(name, error_rate=rate, statuses=[500, 502, 503], seed=seed)

    @staticmethod
    def next_second() -> None:
        """WooCommerce deliveries are deduped on (topic, id, modified second) and Bitrix24 events
        on (event, id, ts second): a second change of one record within the same second as the
        last is caught by the reconciliation poll, not by its webhook. Stories wait a tick."""
        time.sleep(1.0 - time.time() % 1.0 + 0.01)

    # -- deliveries ---------------------------------------------------------------------------

    def hold_webhooks(self) -> None:
        self.tap.holding = True

    def replay(self, times: int = 3, seed: int = 3) -> int:
        """Delivers every held webhook `times` times, in a shuffled order; returns how many."""
        self.tap.holding = False
        with self.tap.lock:
            held, self.tap.held = list(self.tap.held), []
        deliveries = held * times
        random.Random(seed).shuffle(deliveries)
        for path, headers, body in deliveries:
            answer = self.client.post(path, data=body, headers=headers)
            assert answer.status_code in (200, 202), answer.get_data(as_text=True)
        return len(deliveries)

    def deliver_in_turn(self, *paths: str) -> None:
        """Delivers the held webhooks source by source in the order given, letting each settle
        first; a source left out is lost (Bitrix24 and WooCommerce never re-send)."""
        self.tap.holding = False
        with self.tap.lock:
            held, self.tap.held = list(self.tap.held), []
        for prefix in paths:
            for path, headers, body in held:
                if path.startswith(prefix):
                    answer = self.client.post(path, data=body, headers=headers)
                    assert answer.status_code in (200, 202), answer.get_data(as_text=True)
            self.settle()

    def shop_event(self, kind: str, data: dict[str, Any], **extra: Any) -> Any:
        """POSTs a generic-contract event, signed as Standard Webhooks says."""
        body = json.dumps({"type": kind, "data": data, **extra}).encode()
        message_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": shop.sign(SHOP_SECRET, message_id, stamp, body),
            "Content-Type": "application/json",
        }
        answer = self.client.post("/webhooks/shop", data=body, headers=headers)
        assert answer.status_code in (200, 202), answer.get_data(as_text=True)
        return answer

    # -- a customer's purchase --------------------------------------------------------------

    def guest_order(
        self, email: str, phone: str = "", pay: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """A guest fills a cart and checks out (`extra`: checkout fields such as meta_data)."""
        cart = self.shop("/shopper/carts")
        self.shop(f"/shopper/carts/{cart['id']}/items", product_id=93, quantity=2)
        bill = {"email": email, "phone": phone, "first_name": "Olena", "last_name": "Koval"}
        bill |= extra.pop("billing", {})
        path = f"/shopper/carts/{cart['id']}/checkout"
        return self.shop(path, billing=bill, pay=pay, **extra)["order"]


@contextlib.contextmanager
def open_world(
    world_class: type[World], sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str
) -> Iterator[World]:
    """A world of `world_class` on the sandbox: the connector configured for every emulator,
    served on a loopback port and registered with the shop and the CRM."""
    env = {
        key.removeprefix("CONNECTOR_").lower(): value
        for key, value in sandbox.settings_env().items()
    }
    settings = make_settings(
        tmp_path,
        **env,
        database_url=store_url,
        queue_backoff_base=0.01,
        queue_backoff_max=0.05,
        queue_max_attempts=30,
        bitrix24_application_token=B24_TOKEN,
        shop_webhook_secret=SHOP_SECRET,
        shop_callback_url=f"{webhook_sink.url}/shop-callbacks",
    )
    services = Services(settings)
    for name in ("bitrix24", "mailchimp", "woocommerce"):  # blips retried in-call, but quickly
        getattr(services, name).retry = RetryPolicy(backoff=0.01, backoff_cap=0.05)
    tap = Tap(create_app(services))
    served = serve(tap)
    try:
        register_connector(services, served.url, sandbox, B24_TOKEN)
        world = world_class(sandbox, services, served.url, tap)
        yield world
        world.stop()
    finally:
        served.stop()
        services.close()


@pytest.fixture
def world(fresh_sandbox: Any, tmp_path: Any, webhook_sink: Any, store_url: str) -> Iterator[World]:
    with open_world(World, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        yield built
