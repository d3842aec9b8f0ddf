"""The seed's story end to end on the sandbox (issue 16): a cart left; the email goes; no
purchase; the SMS waits for the end of the quiet hours in her zone; she buys; the messenger step
never goes; the Mailchimp cart is gone; the conversion is on the CRM timeline.

The connector's clock runs ahead of the real one by an offset the story moves (steps are
tasks due at their time); the emulators count what they were sent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from connector.store.tables import cascade_runs, cascade_sends, tasks
from tests.cascades.conftest import MAPPINGS
from tests.e2e.conftest import World, open_world

KYIV = ZoneInfo("Europe/Kyiv")  # +380 numbers name this one zone
PERSON = {"id": "C-16", "email": "olena@example.com", "phone": "+380501112233",
          "first_name": "Olena", "marketing_consent": True}  # fmt: skip
SCENARIOS = """\
cascades:
  defaults: {quiet_hours: "21:00-09:00"}
  scenarios:
    abandoned_cart:
      title: Abandoned cart
      trigger: {event: cart.left, after: 60m}
      stop: [order_placed, cart_bought]
      steps:
        - channel: mandrill
          subject: "{customer.first_name}, your cart is waiting"
          text: "Finish your order: {cart.checkout_url}"
        - channel: smsru
          delay: 3h
          text: "{customer.first_name}, your cart: {cart.checkout_url}"
        - channel: [telegram, smsru]
          delay: 1d
          text: "Still thinking? {cart.checkout_url}"
"""


class CascadeWorld(World):
    """The e2e world with a clock `offset` seconds ahead of the real one."""

    offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def later(self, seconds: float) -> None:
        self.offset += seconds
        self.settle()

    def until(self, moment: dt.datetime) -> None:
        self.later(moment.timestamp() - self.now() + 1)

    def iso(self) -> str:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC).isoformat()

    def messages(self, emulator: str) -> list[dict[str, Any]]:
        return list(self.state(emulator)["messages"])

    def rows(self, table: Any) -> list[Any]:
        with self.services.engine.connect() as connection:
            return list(connection.execute(select(table).order_by(table.c.id)))


@pytest.fixture
def world(
    fresh_sandbox: Any, tmp_path: Path, webhook_sink: Any, store_url: str
) -> Iterator[CascadeWorld]:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    (folder / "cascades.yaml").write_text(SCENARIOS, encoding="utf-8")
    with open_world(CascadeWorld, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        assert isinstance(built, CascadeWorld)
        built.services.settings = dataclasses.replace(
            built.services.settings, mappings_dir=str(folder)
        )
        built.services.queue.clock = built.now
        yield built


def cart(world: CascadeWorld) -> dict[str, Any]:
    return {
        "id": "cart-16",
        "customer": PERSON,
        "currency": "UAH",
        "total": "900.00",
        "checkout_url": "https://shop.example.com/checkout?cart=16",
        "created_at": world.iso(),
        "updated_at": world.iso(),
        "lines": [
            {
                "id": "l1",
                "sku": "MUG-01",
                "product_id": "77",
                "name": "Mug",
                "quantity": 3,
                "price": "300.00",
                "total": "900.00",
            }
        ],  # fmt: skip
    }


def test_a_left_cart_gets_an_email_an_sms_after_the_quiet_hours_and_her_purchase_stops_the_rest(
    world: CascadeWorld,
) -> None:
    # she leaves her cart at 17:30 in Kyiv, tomorrow
    tomorrow = dt.datetime.fromtimestamp(world.now(), KYIV).date() + dt.timedelta(days=1)
    world.until(dt.datetime.combine(tomorrow, dt.time(17, 30), KYIV))
    world.shop_event("customer.created", PERSON)
    world.settle()
    world.shop_event("cart.updated", cart(world))
    world.settle()
    assert len(world.store_items("carts")) == 1

    world.later(3600)  # 18:30: the email
    [email] = world.messages("mandrill")
    assert "Olena, your cart is waiting" in str(email)
    assert world.messages("smsru") == []

    world.later(3 * 3600)  # 21:30: quiet hours in Kyiv, the SMS waits
    assert world.messages("smsru") == []
    [due] = [t for t in world.rows(tasks) if t.kind == "cascade.step" and t.state == "queued"]
    morning = dt.datetime.combine(tomorrow + dt.timedelta(days=1), dt.time(9, 0), KYIV)
    assert abs(due.run_at - morning.timestamp()) < 1.0

    world.until(morning)
    [sms] = world.messages("smsru")
    assert "Olena, your cart: https://shop.example.com/checkout?cart=16" in str(sms)

    world.later(3600)  # she buys
    order = {"id": "W-16", "number": "1016", "status": "paid", "currency": "UAH",
             "totals": {"total": "900.00"}, "customer": PERSON, "lines": cart(world)["lines"],
             "created_at": world.iso(), "updated_at": world.iso()}  # fmt: skip
    world.shop_event("order.created", order)
    world.settle()
    [run] = world.rows(cascade_runs)
    assert (run.state, run.stop_reason, run.converted_step) == ("converted", "order placed", 1)
    assert world.store_items("carts") == {}
    comments = [c["COMMENT"] for c in world.state("bitrix24")["timeline_comments"]]
    assert 'Cascade "Abandoned cart" converted: order 1016 after step 2 (smsru)' in comments

    world.later(2 * 86400)  # the messenger step never goes
    assert world.state("telegram")["sent"] == {}
    assert len(world.messages("smsru")) == 1
    assert [(s.step, s.channel, s.state) for s in world.rows(cascade_sends)] == [
        (0, "mandrill", "sent"), (1, "smsru", "sent"),
    ]  # fmt: skip
    assert world.dead_letters() == []


def test_a_worker_killed_after_sms_ru_took_the_message_sends_it_once(
    fresh_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.services import Services
    from connector.systems.smsru.channel import SmsruChannel
    from tests.cascades.conftest import Clock, cascade_tasks
    from tests.cascades.conftest import World as Bench
    from tests.support import make_settings

    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    (folder / "cascades.yaml").write_text(
        "cascades:\n  scenarios:\n    nudge:\n      trigger: {event: promo.sent}\n"
        "      steps: [{channel: smsru, text: 'Hi {customer.first_name}'}, "
        "{channel: smsru, delay: 1h, text: 'Again'}]\n",
        encoding="utf-8",
    )
    env = {
        key.removeprefix("CONNECTOR_").lower(): value
        for key, value in fresh_sandbox.settings_env().items()
        if key.startswith("CONNECTOR_SMSRU_")
    }
    services = Services(make_settings(tmp_path, mappings_dir=str(folder), **env))
    services.__dict__["registry"] = cascade_tasks()
    clock = Clock(time.time())
    services.queue.clock = clock
    bench = Bench(services, clock, None, None, None, folder)  # type: ignore[arg-type]
    bench.customer(phone="+380501112233")
    took = SmsruChannel.send

    def dies_after_sending(self: SmsruChannel, services: Services, message: Any) -> Any:
        took(self, services, message)
        raise KeyboardInterrupt("killed between sent and recorded")

    monkeypatch.setattr(SmsruChannel, "send", dies_after_sending)
    try:
        bench.notify("promo.sent", "c1", "p1")
        bench.run_due()
        monkeypatch.setattr(SmsruChannel, "send", took)
        clock.advance(60)  # the lease is over: another worker takes the step
        bench.run_due()
        clock.advance(3600)
        bench.run_due()
        sent = fresh_sandbox.control("smsru", "GET", "/state").json()["messages"]
        assert [m["text"] for m in sent] == ["Hi Anna", "Again"], "the first SMS went once"
        assert [(s.step, s.state) for s in bench.sends()] == [(0, "unknown"), (1, "sent")]
    finally:
        services.close()
