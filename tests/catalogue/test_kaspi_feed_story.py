"""The Kaspi price list in the catalogue's sandbox story: a price changed in the shop is the new
price in the feed Kaspi fetches, and a deleted product stays listed as unavailable."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from connector.app import create_app

TOKEN = "story-feed-token-0123456789abcdef"
NS = "{kaspiShopping}"


def fetch(world, **headers: str):
    world.services.settings = world.services.settings.replace(
        kaspi_feed_token=TOKEN, kaspi_merchant_id="30286450"
    )
    client = create_app(world.services).test_client()
    return client.get(f"/feeds/kaspi/{TOKEN}.xml", headers=headers)


def offer(answer, sku: str) -> tuple[str | None, list[str | None]]:
    root = ET.fromstring(answer.data)
    [found] = [o for o in root.iter(f"{NS}offer") if o.get("sku") == sku]
    return found.findtext(f"{NS}price"), [
        a.get("available") for a in found.iter(f"{NS}availability")
    ]


def test_a_price_changed_in_the_shop_is_the_kaspi_feeds_price_and_a_deleted_product_stays_listed(
    catalogue_world,
):
    world = catalogue_world
    tea = world.product(
        name="Green tea", sku="TEA1", regular_price="1990.00", manage_stock=True, stock_quantity=7
    )
    world.settle()
    first = fetch(world)
    assert offer(first, "TEA1") == ("1990", ["yes"])

    world.change(tea["id"], regular_price="2490.00")
    world.settle()
    changed = fetch(world, **{"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert offer(changed, "TEA1") == ("2490", ["yes"])
    assert fetch(world, **{"If-None-Match": changed.headers["ETag"]}).status_code == 304

    world.next_second()
    world.services.woocommerce.request("DELETE", f"/products/{tea['id']}", params={"force": "true"})
    world.settle()
    assert offer(fetch(world), "TEA1") == ("2490", ["no"])
    assert world.dead_letters() == []
