"""The demo: a real shopper's story played against the sandbox, with the invariants checked.

It starts every emulator, the connector's web app on a loopback port (so the emulators' webhooks
reach it as they would in production), registers the connector with each system as `connector
setup` does, and runs a worker. Then Anna browses, leaves a cart, writes in a messenger, orders
under another email with the same phone, pays, is moved along by a manager and unsubscribes.
After each step it prints what each system holds; at the end it checks one contact, one deal
per order, no cart left after the order and consent synced. The configured systems add their
chapters (a marketplace's order), and the last one plays a trigger cascade
(connector/cascades/demo.py): a second shopper's left cart gets an email, then an SMS, until she
buys; then a price changed in the shop is the same in every catalogue copy
(connector/catalogue/demo.py). `run_demo` returns the problems.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from connector.cascades.demo import chapter as cascades_chapter
from connector.catalogue.demo import chapter as catalogue_chapter
from connector.config import load_settings
from connector.services import Services
from connector.store.tables import tasks
from connector.systems import shop

PHONE = "+49 151 2345 6789"
E164 = "+4915123456789"
FIRST_EMAIL, ORDER_EMAIL = "anna.k@example.com", "anna.koch@work.example"
log = logging.getLogger("connector.demo")
SHOP_SECRET = "whsec_" + "ZGVtby1zaG9wLXNlY3JldC1rZXk="  # base64 of a demo key


@dataclass
class Story:
    """What happened so far, and what went wrong, told step by step."""

    say: Callable[[str], None] = print
    problems: list[str] = field(default_factory=list)

    def step(self, title: str) -> None:
        self.say(f"\n== {title}")

    def check(self, ok: bool, what: str) -> None:
        self.say(f"   [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.problems.append(what)


class Demo:
    """The sandbox, the connector wired to it, and small helpers to act and to look."""

    def __init__(
        self, sandbox: Any, services: Services, public_url: str, workdir: Path | None = None
    ) -> None:
        self.sandbox = sandbox
        self.services = services
        self.public_url = public_url
        self.workdir = workdir  # the demo's temporary folder (its store, edited mapping files)
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, whatever proxy the environment names

    # -- acting ------------------------------------------------------------------------------

    def control(self, system: str, method: str, path: str, **body: Any) -> Any:
        response = self.http.request(
            method, f"{self.sandbox.urls[system]}/_sandbox{path}", json=body or None, timeout=60
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def push_shop_event(self, event_type: str, data: dict[str, Any]) -> int:
        """The shop's own site posting to the generic contract, signed."""
        body = json.dumps({"type": event_type, "data": data}).encode()
        message_id, stamp = f"msg_{time.time_ns()}", int(time.time())
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": shop.sign(SHOP_SECRET, message_id, stamp, body),
            "content-type": "application/json",
        }
        response = self.http.post(
            f"{self.public_url}/webhooks/shop", data=body, headers=headers, timeout=30
        )
        return response.status_code

    def settle(self, timeout: float = 60.0, horizon: float | None = None) -> None:
        """Waits until the emulators' webhooks went out and the worker has nothing left to do;
        with `horizon`, a task queued for later than that many seconds past the connector's
        clock (a cascade's next step) does not hold it up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._wait_for_webhooks()
            if self._unfinished(horizon) == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the connector did not settle in {timeout:.0f}s")

    def _unfinished(self, horizon: float | None) -> int:
        if horizon is None:
            stats = self.services.queue.stats()
            return stats.queued + stats.waiting + stats.running
        due = tasks.c.state.in_(("waiting", "running")) | (
            (tasks.c.state == "queued") & (tasks.c.run_at <= self.services.queue.clock() + horizon)
        )
        with self.services.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(tasks).where(due)) or 0)

    def _wait_for_webhooks(self) -> None:
        waits = [
            f"{self.sandbox.urls[name]}/_sandbox/deliveries/wait?timeout=5"
            for name in ("woocommerce", "mailchimp")
        ]
        try:
            for url in waits:
                self.http.post(url, timeout=10)
            self.http.get(f"{self.sandbox.urls['bitrix24']}/_sandbox/events?wait=5", timeout=10)
        except requests.RequestException as error:  # settle() keeps trying until its deadline
            log.warning("an emulator did not answer: %s", error)

    # -- looking -----------------------------------------------------------------------------

    def state(self, system: str) -> dict[str, Any]:
        return self.http.get(f"{self.sandbox.urls[system]}/_sandbox/state", timeout=30).json()

    def bitrix24_contacts(self) -> list[dict[str, Any]]:
        contacts = self.state("bitrix24").get("contacts", {})
        return list(contacts.values()) if isinstance(contacts, dict) else list(contacts)

    def contacts_with_phone(self) -> list[dict[str, Any]]:
        found = []
        for contact in self.bitrix24_contacts():
            phones = [_digits(p.get("VALUE", "")) for p in contact.get("PHONE") or []]
            if _digits(E164) in phones:
                found.append(contact)
        return found

    def bitrix24_deals(self) -> list[dict[str, Any]]:
        deals = self.state("bitrix24").get("deals", {})
        return list(deals.values()) if isinstance(deals, dict) else list(deals)

    def mailchimp_store(self) -> dict[str, Any]:
        """The e-commerce store's carts, orders, customers and products."""
        store_id = self.services.settings.mailchimp_store_id
        return self.state("mailchimp").get("store_items", {}).get(store_id, {})

    def mailchimp_member(self, email: str) -> dict[str, Any] | None:
        list_id = self.services.settings.mailchimp_list_id
        members = self.state("mailchimp").get("members", {}).get(list_id, {})
        for member in members.values():
            if str(member.get("email_address", "")).lower() == email.lower():
                return member
        return None

    def woocommerce_order(self, order_id: int) -> dict[str, Any]:
        response = self.services.woocommerce.get_order(order_id)
        return dict(response)

    def show(self, story: Story) -> None:
        """One line per system: what it holds about Anna now."""
        contacts = self.contacts_with_phone()
        deals = self.bitrix24_deals()
        store = self.mailchimp_store()
        carts = _values(store.get("carts"))
        orders = _values(store.get("orders"))
        member = self.mailchimp_member(FIRST_EMAIL) or self.mailchimp_member(ORDER_EMAIL)
        story.say(
            f"   Bitrix24: {len(contacts)} contact(s) with her phone, {len(deals)} deal(s)"
            + "".join(f"; deal {d.get('ID')} at {d.get('STAGE_ID')}" for d in deals)
        )
        story.say(
            f"   Mailchimp: member {member.get('status') if member else 'none'}, "
            f"{len(carts)} cart(s), {len(orders)} order(s)"
        )


def _values(found: Any) -> list[Any]:
    if isinstance(found, dict):
        return list(found.values())
    return list(found or [])


def _digits(text: str) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


@contextmanager
def running_connector(workdir: Path) -> Iterator[Demo]:
    """The sandbox, the web app on a free port and a worker thread, all stopped on exit."""
    from waitress.server import create_server

    from connector.app import create_app
    from connector.cli.sandbox import sandbox_runner
    from connector.web_server import bound_port
    from connector.worker import Worker

    with sandbox_runner().Sandbox(ports={}) as sandbox:  # ./sandbox, installed apart
        env = sandbox.settings_env() | {
            "CONNECTOR_DATABASE_URL": f"sqlite:///{workdir / 'demo.db'}",
            "CONNECTOR_SHOP_WEBHOOK_SECRET": SHOP_SECRET,
            "CONNECTOR_QUEUE_BACKOFF_BASE": "0.2",
            "CONNECTOR_QUEUE_BACKOFF_MAX": "2",
        }
        services = Services(load_settings(env=env, env_file=None))
        _ = services.queue, services.registry  # store created and migrated before any thread
        server = create_server(create_app(services), host="127.0.0.1", port=0, threads=8)
        public_url = f"http://127.0.0.1:{bound_port(server)}"
        env["CONNECTOR_PUBLIC_URL"] = public_url
        services.settings = services.settings.replace(public_url=public_url)
        threading.Thread(target=server.run, daemon=True, name="web").start()
        worker = Worker(services, threads=4, poll_seconds=0.05)
        worker_thread = threading.Thread(target=worker.run, daemon=True, name="worker")
        try:
            _setup(env)  # with the web app up: the systems check the webhook addresses
            worker_thread.start()
            yield Demo(sandbox, services, public_url, workdir)
        finally:
            worker.stop()
            if worker_thread.is_alive():
                worker_thread.join(timeout=30)
            server.close()
            services.close()


def _setup(env: dict[str, str]) -> None:
    """Registers the connector with each system exactly as `connector setup` does."""
    from connector.cli.setup import command as setup_command

    saved = dict(os.environ)
    os.environ.update(env | {"CONNECTOR_ENV_FILE": "/nonexistent"})
    try:
        for system in ("bitrix24", "mailchimp", "woocommerce"):
            setup_command.main([system], standalone_mode=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_demo(say: Callable[[str], None] = print) -> list[str]:
    """Plays the story; returns the invariants that did not hold (empty: all held)."""
    story = Story(say)
    with (
        tempfile.TemporaryDirectory(prefix="connector-demo-") as folder,
        running_connector(Path(folder)) as demo,
    ):
        play(demo, story)
    say(
        "\nall invariants hold"
        if not story.problems
        else f"\n{len(story.problems)} invariant(s) failed: " + "; ".join(story.problems)
    )
    return story.problems


def play(demo: Demo, story: Story) -> None:
    story.step("1. Anna browses the site, fills a cart and leaves")
    shopper = {
        "id": "site-anna",
        "email": FIRST_EMAIL,
        "phone": PHONE,
        "first_name": "Anna",
        "last_name": "Koch",
        "marketing_consent": True,
    }
    statuses = [demo.push_shop_event("customer.created", shopper)]
    statuses.append(
        demo.push_shop_event(
            "cart.updated",
            {
                "id": "cart-anna-1",
                "customer": {"id": "site-anna", "email": FIRST_EMAIL, "phone": PHONE},
                "currency": "EUR",
                "total": "45.00",
                "checkout_url": "https://shop.example/checkout?cart=cart-anna-1",
                "lines": [
                    {
                        "id": "1",
                        "sku": "woo-hoodie",
                        "product_id": "34",
                        "name": "Hoodie",
                        "quantity": 1,
                        "price": "45.00",
                        "total": "45.00",
                    }
                ],
            },
        )
    )
    story.check(statuses == [200, 200], "the site's customer and cart webhooks are accepted")
    demo.settle()
    demo.show(story)
    story.check(
        len(_values(demo.mailchimp_store().get("carts"))) == 1,
        "Mailchimp holds her cart (the abandoned-cart journey can fire)",
    )

    story.step("2. A day later she writes in a messenger; a manager creates her deal by phone")
    # As in the CRM's UI: typing her phone shows the contact that already exists (if any).
    known = demo.services.bitrix24.find_contacts_by_comm(phones=[PHONE, E164])
    contact = (
        {"id": known[0]}
        if known
        else demo.control(
            "bitrix24",
            "POST",
            "/act/contact",
            action="add",
            fields={
                "NAME": "Anna",
                "LAST_NAME": "Koch",
                "PHONE": [{"VALUE": PHONE, "VALUE_TYPE": "MOBILE"}],
            },
        )
    )
    story.say(f"   the manager {'found' if known else 'created'} contact {contact['id']}")
    demo.control(
        "bitrix24",
        "POST",
        "/act/deal",
        action="add",
        fields={
            "TITLE": "Messenger: hoodie question",
            "CONTACT_ID": contact["id"],
            "OPPORTUNITY": "45.00",
            "CURRENCY_ID": "EUR",
        },
    )
    demo.settle()
    demo.show(story)
    story.check(
        len(demo.contacts_with_phone()) == 1,
        "the manager's contact is the one the connector knows (one contact)",
    )

    story.step("3. She orders on the site under another email, same phone, and pays")
    cart = demo.control("woocommerce", "POST", "/shopper/carts")
    demo.control(
        "woocommerce", "POST", f"/shopper/carts/{cart['id']}/items", product_id=34, quantity=1
    )
    order = demo.control(
        "woocommerce",
        "POST",
        f"/shopper/carts/{cart['id']}/checkout",
        billing={
            "first_name": "Anna",
            "last_name": "Koch",
            "email": ORDER_EMAIL,
            "phone": PHONE,
            "country": "DE",
            "city": "Berlin",
            "address_1": "Main St 1",
            "postcode": "10115",
        },
        payment_method="bacs",
    )
    order_id = order.get("id") or order.get("order", {}).get("id")
    demo.settle()
    demo.control("woocommerce", "POST", f"/shopper/orders/{order_id}/pay")
    demo.settle()
    demo.show(story)
    contacts = demo.contacts_with_phone()
    story.check(len(contacts) == 1, "still one Bitrix24 contact for her phone")
    order_deals = [d for d in demo.bitrix24_deals() if str(order_id) in json.dumps(d)]
    story.check(len(order_deals) == 1, "exactly one deal for the web order")
    story.check(
        len(_values(demo.mailchimp_store().get("orders"))) == 1,
        "Mailchimp holds the order (post-purchase journey)",
    )
    story.check(
        not _values(demo.mailchimp_store().get("carts")),
        "no cart left in Mailchimp after the order (no abandoned-cart email)",
    )

    story.step("4. The manager moves the deal along")
    if order_deals:
        demo.control("bitrix24", "POST", "/act/deal", id=order_deals[0]["ID"], stage_id="WON")
        demo.settle()
    demo.show(story)
    shop_status = demo.woocommerce_order(order_id).get("status")
    story.say(f"   shop order {order_id} is now {shop_status!r}")
    story.check(shop_status == "completed", "the shop order follows the deal stage (completed)")

    story.step("5. She unsubscribes from emails")
    member = demo.mailchimp_member(FIRST_EMAIL) or demo.mailchimp_member(ORDER_EMAIL)
    if member:
        demo.control(
            "mailchimp",
            "POST",
            f"/lists/{demo.services.settings.mailchimp_list_id}/members/"
            f"{member['email_address']}/unsubscribe",
        )
        demo.settle()
    demo.show(story)
    member = demo.mailchimp_member(member["email_address"]) if member else None
    story.check(
        member is not None and member.get("status") == "unsubscribed",
        "Mailchimp shows her unsubscribed",
    )
    contacts = demo.contacts_with_phone()
    consent = contacts[0].get("UF_CRM_MARKETING_CONSENT") if contacts else None
    story.say(f"   Bitrix24 consent field: {consent!r}")
    story.check(consent in ("N", "0", 0, False), "Bitrix24 knows she withdrew consent")
    story.check(demo.services.queue.stats().dead == 0, "no dead letters")
    number = chapters(demo, story, first=6)
    cascades_chapter(demo, story, number)
    catalogue_chapter(demo, story, number + 1)


def chapters(demo: Demo, story: Story, first: int) -> int:
    """The chapters the configured systems add to the story (`System.demo`), in registry order;
    returns the next free chapter number."""
    from connector.systems.registry import resolve

    number = first
    settings = demo.services.settings
    for system in demo.services.systems:
        if system.demo is not None and system.is_configured(settings):
            resolve(system.demo)(demo, story, number)
            number += 1
    return number
