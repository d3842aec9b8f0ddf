"""Fixtures of the cascade tests: the connector's own store and flows, fake channels in a test
registry (an email, an SMS and a messenger channel that count what they send), a clock the test
moves, and a queue drained by hand at that clock."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from connector.cascades.channels import Message, Sent
from connector.errors import PermanentError
from connector.flows.hub import change_snapshot
from connector.identity import add_keys, customer_keys
from connector.services import Services
from connector.store.tables import cascade_runs, cascade_sends, tasks
from connector.systems.registry import Registry, System
from connector.tasks import TaskContext, TaskRegistry
from tests.support import make_settings

START = 1_800_000_000.0  # Fri 2027-01-15 08:00 UTC
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeChannel:
    """A channel that keeps what it sent; it can refuse, or die after sending."""

    def __init__(self, name: str, medium: str, lookup: bool = False) -> None:
        self.name, self.title, self.medium, self.lookup = name, name.title(), medium, lookup
        self.sent: list[Message] = []
        self.die_after_send = 0  # this many next sends go out, then the worker "dies"
        self.refuse: str | None = None
        self.fail_before_sending: list[Exception] = []  # raised, one a send, before it goes

    def address(self, services: Any, customer: Any) -> str | None:
        if self.medium == "email":
            return customer.get("email")
        if self.medium == "sms":
            return customer.get("phone")
        return (customer.get("custom") or {}).get("chat_id")

    def send(self, services: Any, message: Message) -> Sent:
        if self.refuse:
            raise PermanentError(self.refuse)
        if self.fail_before_sending:
            raise self.fail_before_sending.pop(0)
        self.sent.append(message)
        if self.die_after_send:
            self.die_after_send -= 1
            raise KeyboardInterrupt("the worker died after the provider took the message")
        return Sent(f"{self.name}-{len(self.sent)}")

    def find_sent(self, services: Any, message: Message, since: float) -> Sent | None:
        for number, held in enumerate(self.sent, 1):
            if held.key == message.key:
                return Sent(f"{self.name}-{number}")
        return None


class ChatChannel(FakeChannel):
    """A messenger with a start link among its template variables."""

    VARIABLES = ("chat_link",)

    def variables(self, services: Any, customer: Any) -> dict[str, str]:
        return {"chat_link": f"https://chat.example/start/{customer.get('id')}"}


def fake_systems(*channels: FakeChannel) -> Registry:
    """The built-in systems and the fake channels, configured."""
    found = list(Registry.discover())
    for fake in channels:
        found.append(System(name=fake.name, title=fake.title, channel=fake,
                            configured=lambda settings: True))  # fmt: skip
    return Registry(found)


SCENARIOS = """\
cascades:
  defaults:
    quiet_hours: "21:00-09:00"
    cap: {sms: 2 per 7d}
  scenarios:
    abandoned_cart:
      title: Abandoned cart
      trigger: {event: cart.left, after: 60m}
      stop: [order_placed, cart_bought, unsubscribed, blocked]
      steps:
        - channel: fakemail
          subject: "{customer.first_name}, your cart is waiting"
          text: "Finish here: {cart.checkout_url}"
        - channel: [fakesms]
          delay: 3h
          text: "{customer.first_name}, your cart: {cart.checkout_url}"
        - channel: fakechat
          delay: 1d
          text: "Still thinking? {chat_link}"
    pickup:
      trigger: {event: shipment.status, status: arrived_at_pickup}
      stop: [parcel_collected]
      quiet_hours: none
      steps:
        - {channel: fakesms, marketing: false, text: "Parcel {shipment.tracking_number} is in"}
        - {channel: fakesms, marketing: false, delay: 2d, text: "Parcel waits 2 more days"}
"""


@dataclasses.dataclass
class World:
    services: Services
    clock: Clock
    mail: FakeChannel
    sms: FakeChannel
    chat: FakeChannel
    folder: Path

    def write_scenarios(self, text: str) -> None:
        path = self.folder / "cascades.yaml"
        path.write_text(text, encoding="utf-8")

    def customer(self, cid: str = "c1", **values: Any) -> str:
        base = {
            "id": cid,
            "email": "anna@example.com",
            "phone": "+79161234567",
            "first_name": "Anna",
            "marketing_consent": True,
            "custom": {"chat_id": "4242"},
        }
        person = base | values
        with self.services.engine.begin() as connection:
            change_snapshot(connection, "customer", cid, lambda _: person)
            add_keys(connection, cid, customer_keys(email=person["email"], phone=person["phone"]))
        return cid

    def snapshot(self, entity: str, key: str, values: dict[str, Any]) -> None:
        with self.services.engine.begin() as connection:
            change_snapshot(connection, entity, key, lambda cur: {**(cur or {}), **values})

    def notify(self, event: str, cid: str, ref: Any, data: dict[str, Any] | None = None,
               at: float | None = None) -> int | None:  # fmt: skip
        from connector.cascades.engine import notify

        with self.services.engine.begin() as connection:
            return notify(self.services, connection, event, cid, ref, data, at)

    def ctx(self, task: Any = None) -> TaskContext:
        task = task or SimpleNamespace(id=0, attempts=1, enqueued_at=self.clock())
        return TaskContext(task=task, services=self.services)

    def run_due(self, rounds: int = 50) -> list[str]:
        """Runs every task due at the clock, as the worker would (waits and failures go back
        to the queue); returns the kinds run."""
        queue, ran = self.services.queue, []
        for _ in range(rounds):
            claimed = queue.claim("test", limit=20)
            if not claimed:
                break
            for task in claimed:
                handler = self.services.registry.handler(task.kind)
                try:
                    handler(self.ctx(task), task.payload)
                except KeyboardInterrupt:
                    continue  # the worker died: the task is claimed again when its lease ends
                except Exception as error:  # noqa: BLE001 - the queue decides, as the worker does
                    queue.fail(task, "test", error)
                    continue
                queue.complete(task, "test")
                ran.append(task.kind)
        return ran

    def expire_lease(self, task_id: int) -> None:
        with self.services.engine.begin() as connection:
            connection.execute(
                tasks.update().where(tasks.c.id == task_id).values(lease_until=self.clock() - 1)
            )

    def runs(self) -> list[Any]:
        with self.services.engine.connect() as connection:
            return list(connection.execute(select(cascade_runs).order_by(cascade_runs.c.id)))

    def sends(self) -> list[Any]:
        with self.services.engine.connect() as connection:
            query = select(cascade_sends).order_by(cascade_sends.c.id)
            return list(connection.execute(query))

    def due_steps(self) -> list[Any]:
        with self.services.engine.connect() as connection:
            query = select(tasks).where(
                tasks.c.kind == "cascade.step", tasks.c.state.in_(("queued", "waiting"))
            )
            return list(connection.execute(query))


def cascade_tasks() -> TaskRegistry:
    """The cascade task kinds alone: what these tests run (the whole registry is checked to
    hold them in test_cli.py)."""
    from connector import cascades

    registry = TaskRegistry()
    cascades.register(registry)
    return registry


@pytest.fixture
def world(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder, ignore=shutil.ignore_patterns("cascades.yaml"))
    (folder / "cascades.yaml").write_text(SCENARIOS, encoding="utf-8")
    settings = make_settings(
        tmp_path,
        database_url=store_url,
        mappings_dir=str(folder),
        cascades_time_zone="Europe/Moscow",
        queue_backoff_base=0.01,
        queue_backoff_max=0.05,
    )
    services = Services(settings)
    clock = Clock()
    mail, sms = FakeChannel("fakemail", "email"), FakeChannel("fakesms", "sms")
    chat = ChatChannel("fakechat", "messenger", lookup=True)
    systems = fake_systems(mail, sms, chat)
    # the mapping set checks the scenarios against the discovered systems: the fakes are there
    monkeypatch.setattr(Registry, "discover", classmethod(lambda cls, *a, **k: systems))
    services.__dict__["systems"] = systems
    services.__dict__["registry"] = cascade_tasks()
    services.queue.clock = clock
    yield World(services, clock, mail, sms, chat, folder)
    services.close()
