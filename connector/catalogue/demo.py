"""The demo's catalogue chapter: one price everywhere (docs/catalogue.md).

`chapter(demo, story, number)` plays it on the demo's running sandbox (connector/demo.py's `Demo`
and `Story`). The shipped mappings/catalogue.yaml keeps every copy on and `connector setup`
registers the shop's product webhooks, so nothing is switched on here but the marketplace's price
list, which is served only with a secret token: the chapter sets one (through the demo module of
the feed's own package, found in the registry as the copy rendered on each fetch) and puts the
settings back at the end. The shop adds a product, then changes its price; once the connector
settled, the new price is the Bitrix24 catalogue's, Mailchimp's variant's and the price list's, and
`connector catalogue diff` finds nothing.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

SKU = "TEA8"
OLD, NEW = "1990.00", "2490.00"
FEED_TOKEN = "demo-feed-token-0123456789abcdef"
RENDERED = "connector.catalogue.diff:rendered"  # the copy a marketplace fetches as a price list


def chapter(demo: Any, story: Any, number: int = 8) -> None:
    story.step(f"{number}. One price everywhere: the shop changes a price, every copy follows")
    services = demo.services
    saved = services.settings
    try:
        _play(demo, story)
    finally:
        services.settings = saved


def _play(demo: Any, story: Any) -> None:
    from connector.catalogue.diff import differences
    from connector.systems.registry import resolve

    services = demo.services
    shop = services.woocommerce
    tea = shop.request(
        "POST",
        "/products",
        json={
            "name": "Green tea",
            "sku": SKU,
            "regular_price": OLD,
            "manage_stock": True,
            "stock_quantity": 7,
        },
    )
    demo.settle()
    story.check(
        prices(demo, tea["id"])[:2] == (OLD, OLD), f"a new product {SKU} is copied at {OLD}"
    )

    # deliveries are deduped on (topic, id, modified second): the change waits for the next one
    time.sleep(1.0 - time.time() % 1.0 + 0.01)
    shop.request("PUT", f"/products/{tea['id']}", json={"regular_price": NEW})
    demo.settle()
    crm, mailchimp = prices(demo, tea["id"])
    story.say(f"   the shop: {SKU} {OLD} -> {NEW}")
    story.say(f"   Bitrix24 catalogue (crm.product): {crm}; Mailchimp variant: {mailchimp}")
    story.check((crm, mailchimp) == (NEW, NEW), f"Bitrix24 and Mailchimp hold {NEW}")

    # a price list rendered on each fetch: its package's demo module serves it for a token
    feeds = [s for s in services.systems if s.catalogue_copy == RENDERED and s.demo]
    for system in feeds:
        module = str(system.demo).partition(":")[0]
        path = resolve(f"{module}:serve_feed")(services, FEED_TOKEN)
        answer = demo.http.get(demo.public_url + path, timeout=30)
        listed = offer_price(answer.content) if answer.status_code == 200 else None
        story.say(f"   {system.title} price list ({answer.status_code}): {SKU} at {listed}")
        story.check(
            listed is not None and Decimal(listed) == Decimal(NEW),
            f"the {system.title} price list lists {SKU} at {NEW}",
        )
    found = list(differences(services))
    story.check(not found, "`connector catalogue diff` finds no difference")
    story.check(services.queue.stats().dead == 0, "no dead letters")


def prices(demo: Any, product_id: Any) -> tuple[str | None, str | None]:
    """The product's price in the Bitrix24 catalogue and in Mailchimp's variant, as `0.00`."""
    items = demo.services.bitrix24.call(
        "crm.product.list", {"filter": {"XML_ID": SKU}, "select": ["*"]}
    )
    crm = [_money(item.get("PRICE")) for item in items]
    product = (demo.mailchimp_store().get("products") or {}).get(str(product_id)) or {}
    variants = [_money(v.get("price")) for v in product.get("variants") or []]
    return (crm[0] if len(crm) == 1 else None), (variants[0] if len(variants) == 1 else None)


def offer_price(document: bytes) -> str | None:
    """The price of the SKU's offer in a price-list document."""
    root = ET.fromstring(document)
    for offer in root.iterfind(".//{*}offer"):
        if offer.get("sku") == SKU:
            return offer.findtext("{*}price")
    return None


def _money(value: Any) -> str | None:
    return None if value is None else f"{Decimal(str(value)):.2f}"
