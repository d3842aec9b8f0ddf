"""The demo's cascade chapter (issue 16's story): a cart left, an email, an SMS, a purchase, quiet.

`chapter(demo, story, number)` plays it on the demo's running sandbox (connector/demo.py's `Demo`
and `Story`). The shipped mappings/cascades.yaml keeps every scenario off, so the chapter copies
the mappings folder into the demo's work folder with one abandoned-cart scenario on (email, then
SMS 3 h later, then a messenger a day later; no quiet hours, so the story does not depend on the
hour it is played at) and points the connector at it. A second shopper, Olena (+380, consent
given), leaves a cart on the site; the connector's clock is moved ahead (steps are queue tasks
due at their time, nobody sleeps for hours): after an hour Mandrill sends the email, three hours
later SMS.ru the SMS; she buys; the run is converted, the messenger step never goes, the CRM
timeline shows the conversion and the report counts 1 entered / 1 converted. The clock and the
mappings folder are put back at the end.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

SCENARIO = "abandoned_cart"
SCENARIOS = """\
cascades:
  defaults: {quiet_hours: none}
  scenarios:
    abandoned_cart:
      title: Abandoned cart
      trigger: {event: cart.left, after: 60m}
      stop: [order_placed, cart_bought, unsubscribed]
      steps:
        - name: email
          channel: mandrill
          subject: "{customer.first_name}, your cart is waiting"
          text: "Finish your order: {cart.checkout_url}"
        - name: sms
          channel: smsru
          delay: 3h
          text: "{customer.first_name}, your cart: {cart.checkout_url}"
        - name: messenger
          channel: [telegram, smsru]
          delay: 1d
          text: "Still thinking? {cart.checkout_url}"
"""
EMAIL, PHONE = "olena.koval@example.com", "+380501112233"
SHOPPER = {
    "id": "site-olena",
    "email": EMAIL,
    "phone": PHONE,
    "first_name": "Olena",
    "last_name": "Koval",
    "marketing_consent": True,
}
CHECKOUT_URL = "https://shop.example/checkout?cart=cart-olena-1"
ORDER_NUMBER = "2001"
HOUR = 3600.0
SOON = 60.0  # settling waits for tasks due within a minute (retries), not for the next step


class AheadClock:
    """The connector's clock, `offset` seconds ahead of the real one."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def iso(self) -> str:
        return dt.datetime.fromtimestamp(self(), dt.UTC).isoformat()


def chapter(demo: Any, story: Any, number: int = 7) -> None:
    story.step(
        f"{number}. Olena leaves a cart: an email, then an SMS; she buys and the cascade goes quiet"
    )
    services = demo.services
    saved_settings, saved_clock = services.settings, services.queue.clock
    folder = Path(demo.workdir) / "cascade-mappings"
    shutil.copytree(saved_settings.mappings_dir, folder, dirs_exist_ok=True)
    (folder / "cascades.yaml").write_text(SCENARIOS, encoding="utf-8")
    clock = AheadClock()
    services.settings = saved_settings.replace(mappings_dir=str(folder))
    services.queue.clock = clock
    try:
        _play(demo, story, clock)
    finally:
        services.queue.clock = saved_clock
        services.settings = saved_settings


def _play(demo: Any, story: Any, clock: AheadClock) -> None:
    from connector.cascades.engine import masked
    from connector.cascades.report import declared, report
    from connector.store.tables import cascade_runs, cascade_sends

    services = demo.services

    def later(seconds: float) -> None:
        clock.offset += seconds
        demo.settle(horizon=SOON)

    def since_left(moment: float | None) -> str:
        minutes = round(((moment or left) - left) / 60)
        return f"+{minutes // 60}h{minutes % 60:02d}m"

    def tell(step: int) -> None:
        """One line per send of that step: when on the connector's clock, by what, to whom."""
        for send in rows(cascade_sends):
            if send.step == step:
                story.say(
                    f"   {since_left(send.sent_at)} step {step + 1}: {send.channel} {send.state}"
                    f" to {masked(send.medium, send.address)}"
                )

    def mine(emulator: str, field: str, address: str) -> list[dict[str, Any]]:
        messages = demo.state(emulator).get("messages") or []
        return [m for m in messages if address in str(m.get(field, ""))]

    def rows(table: Any) -> list[Any]:
        with services.engine.connect() as connection:
            return list(connection.execute(select(table).order_by(table.c.id)))

    left = clock()
    cart = {
        "id": "cart-olena-1",
        "customer": SHOPPER,
        "currency": "UAH",
        "total": "900.00",
        "checkout_url": CHECKOUT_URL,
        "created_at": clock.iso(),
        "updated_at": clock.iso(),
        "lines": [
            {
                "id": "1",
                "sku": "MUG-01",
                "product_id": "77",
                "name": "Mug",
                "quantity": 3,
                "price": "300.00",
                "total": "900.00",
            }
        ],
    }
    statuses = [demo.push_shop_event("customer.created", SHOPPER)]
    demo.settle(horizon=SOON)
    statuses.append(demo.push_shop_event("cart.updated", cart))
    demo.settle(horizon=SOON)
    story.check(statuses == [200, 200], "her customer and cart webhooks are accepted")
    story.say(f"   Olena ({masked('email', EMAIL)}, {masked('sms', PHONE)}) left 3 mugs, 900 UAH")
    story.check(not mine("mandrill", "email", EMAIL), "nothing is sent while the cart is fresh")

    later(HOUR + 1)
    emails = mine("mandrill", "email", EMAIL)
    tell(0)
    story.say(f"      subject: {emails[0].get('subject')!r}" if emails else "      no email")
    story.check(
        len(emails) == 1 and "Olena, your cart is waiting" in str(emails[0]),
        "an hour later the abandoned-cart email goes out (Mandrill), once",
    )
    story.check(not mine("smsru", "to", PHONE[1:]), "no SMS yet")

    later(3 * HOUR)
    texts = mine("smsru", "to", PHONE[1:])
    tell(1)
    story.say(f"      text: {texts[0].get('text')!r}" if texts else "      no SMS")
    story.check(
        len(texts) == 1 and f"Olena, your cart: {CHECKOUT_URL}" in str(texts[0]),
        "three hours after the email the SMS goes out (SMS.ru), once",
    )

    later(HOUR)
    order = {
        "id": "site-order-2001",
        "number": ORDER_NUMBER,
        "status": "paid",
        "currency": "UAH",
        "totals": {"total": "900.00"},
        "customer": SHOPPER,
        "lines": cart["lines"],
        "created_at": clock.iso(),
        "updated_at": clock.iso(),
    }
    story.check(
        demo.push_shop_event("order.created", order) == 200, "her order's webhook is accepted"
    )
    demo.settle(horizon=SOON)
    story.say(f"   {since_left(clock())} she orders: order {ORDER_NUMBER}, 900 UAH")
    runs = rows(cascade_runs)
    story.check(
        [(r.state, r.stop_reason, r.converted_step) for r in runs]
        == [("converted", "order placed", 1)],
        "her run is converted by the order, after step 2",
    )
    comment = f'Cascade "Abandoned cart" converted: order {ORDER_NUMBER} after step 2 (smsru)'
    comments = [c.get("COMMENT") for c in demo.state("bitrix24").get("timeline_comments") or []]
    story.check(comment in comments, f"the Bitrix24 timeline says: {comment}")

    later(2 * 24 * HOUR)  # the messenger step would have been due a day after the SMS
    sends = [(s.step, s.channel, s.state) for s in rows(cascade_sends)]
    story.check(
        demo.state("telegram").get("sent") in ({}, None)
        and len(mine("smsru", "to", PHONE[1:])) == 1
        and sends == [(0, "mandrill", "sent"), (1, "smsru", "sent")],
        "two days on, the messenger step never went (two sends in all)",
    )
    known = declared(services.settings, services.systems)
    figures = report(services.engine, scenario=SCENARIO, declared=known)
    found = figures[0].as_dict() if figures else {}
    story.say(
        f"   `connector cascades report`: {found.get('entered')} entered, "
        f"{found.get('converted')} converted"
    )
    story.check(
        (found.get("entered"), found.get("converted")) == (1, 1),
        "the cascades report counts 1 entered, 1 converted",
    )
    story.check(services.queue.stats().dead == 0, "no dead letters")
