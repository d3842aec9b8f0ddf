"""The demo's Kaspi.kz chapter: a marketplace order polled, accepted and synced like a web order.

`chapter(demo, story, number)` plays it on the demo's running sandbox (connector/demo.py's
`Demo` and `Story`): a buyer checks out on Kaspi.kz with a phone written the Kaspi way (10
digits, no +7); one poll brings the order in; it is accepted for the merchant; the buyer is one
contact (+7...), the order one deal with Kaspi's own source, no Mailchimp order (Kaspi gives no
e-mail) and one bonus accrual; a second poll changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

KASPI_PHONE = "7051234567"
KASPI_E164 = "+77051234567"


def chapter(demo: Any, story: Any, number: int = 6) -> None:
    from connector.identity import order_id_for
    from connector.store.tables import loyalty_entries
    from connector.sync.polling import poll_once

    story.step(f"{number}. A buyer orders on Kaspi.kz; the connector polls, accepts and syncs it")
    services = demo.services
    # accept new orders; poll on every call here (the scheduler's pace is minutes)
    services.settings = services.settings.replace(kaspi_auto_accept=True, kaspi_poll_minutes=0.01)
    placed = demo.control(
        "kaspi",
        "POST",
        "/orders",
        cellPhone=KASPI_PHONE,
        firstName="Айгерим",
        lastName="Садыкова",
        lines=[{"sku": "woo-hoodie", "name": "Hoodie", "quantity": 1, "price": 19990}],
    )
    code = placed["attributes"]["code"]
    story.say(f"   Kaspi order {code}: {placed['attributes']['status']}, phone {KASPI_PHONE}")
    first = poll_once(services, "kaspi", "orders")
    demo.settle()
    second = poll_once(services, "kaspi", "orders")  # sees it accepted: one new status
    demo.settle()
    third = poll_once(services, "kaspi", "orders")
    demo.settle()
    order = next(o for o in demo.state("kaspi")["orders"] if o["attributes"]["code"] == code)
    story.say(f"   Kaspi now has it {order['attributes']['status']}")
    oid = order_id_for("kaspi", order["id"])
    contacts = [
        c for c in demo.bitrix24_contacts() if KASPI_E164 in [p.get("VALUE") for p in c["PHONE"]]
    ]
    deals = [d for d in demo.bitrix24_deals() if d.get("ORIGIN_ID") == oid]
    with services.engine.connect() as connection:
        bonus = list(
            connection.scalars(
                select(loyalty_entries.c.kind).where(loyalty_entries.c.order_id == oid)
            )
        )
    queued = [poll.enqueued if poll else None for poll in (first, second, third)]
    story.check(queued == [1, 1, 0], f"three polls queued it once per status: {queued}")
    story.check(
        order["attributes"]["status"] == "ACCEPTED_BY_MERCHANT",
        "the new order was accepted for the merchant",
    )
    story.check(
        len(contacts) == 1, f"one Bitrix24 contact with the phone read as Kazakh ({KASPI_E164})"
    )
    story.check(
        len(deals) == 1 and deals[0].get("SOURCE_ID") == "KASPI",
        "exactly one deal for the Kaspi order, with Kaspi as its source",
    )
    story.check(bonus == ["pending"], "one bonus accrual, like any order")
    mailchimp_orders = demo.mailchimp_store().get("orders") or {}
    story.check(oid not in json_keys(mailchimp_orders), "no Mailchimp order: Kaspi gives no e-mail")


def json_keys(found: Any) -> set[str]:
    """The ids of a Mailchimp store collection, whether the state holds a dict or a list."""
    if isinstance(found, dict):
        return {str(key) for key in found}
    return {str(item.get("id")) for item in found or [] if isinstance(item, dict)}


def serve_feed(services: Any, token: str, merchant_id: str = "30286450") -> str:
    """Turns the price list on for `token` (with `merchant_id` when none is set) and returns the
    path it is served at: the demo's catalogue chapter (connector/catalogue/demo.py) finds it
    beside this package's chapter, fetches the list and puts the settings back when done."""
    from connector.systems.kaspi.settings import KaspiSettings

    config = services.settings.of(KaspiSettings)
    services.settings = services.settings.replace(
        kaspi_feed_token=token, kaspi_merchant_id=config.merchant_id or merchant_id
    )
    return f"/feeds/kaspi/{token}.xml"
