"""The Kaspi price list: what Kaspi's automatic upload reads from the connector's URL."""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from connector.app import create_app
from connector.catalogue import Product, Variant, mark_deleted, save_product
from connector.services import Services
from tests.support import make_settings

TOKEN = "feed-token-0123456789abcdefghijkl"
URL = f"/feeds/kaspi/{TOKEN}.xml"
NS = "{kaspiShopping}"
NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
STORES = """\
value_map: kaspi_store
out: {almaty: PP1, almaty-2: PP1, astana: PP2}
unmapped: {in: keep, out: error}
"""


def write_mappings(folder: Path, stores: str = STORES) -> Path:
    (folder / "kaspi").mkdir(parents=True, exist_ok=True)
    (folder / "kaspi" / "store.yaml").write_text(stores)
    return folder


@pytest.fixture
def feed_services(tmp_path: Path):
    settings = make_settings(
        tmp_path,
        mappings_dir=str(write_mappings(tmp_path / "mappings")),
        kaspi_feed_token=TOKEN,
        kaspi_merchant_id="30286450",
        kaspi_company="ТОО «Ромашка» & Co",
    )
    built = Services(settings)
    built.queue.clock = NOW.timestamp
    yield built
    built.close()


def variant(vid: str, sku: str | None, price: str = "1990.00", **extra) -> Variant:
    return Variant(
        variant_id=vid, sku=sku, name=f"Item {vid}", price=price, currency="KZT", **extra
    )


def product(pid: str, *variants: Variant, status: str = "active") -> Product:
    return Product(product_id=pid, name=f"Product {pid}", variants=variants, status=status)


def save(services: Services, *items: Product) -> None:
    with services.engine.begin() as connection:
        for item in items:
            save_product(connection, item, now=NOW.timestamp())


def fetch(services: Services, path: str = URL, **headers: str):
    return create_app(services).test_client().get(path, headers=headers)


def offers(body: bytes) -> dict[str, ET.Element]:
    """The document checked against the structure research/kaspi.md documents; its offers."""
    root = ET.fromstring(body)
    assert root.tag == f"{NS}kaspi_catalog" and root.get("date")
    assert [child.tag for child in root] == [f"{NS}company", f"{NS}merchantid", f"{NS}offers"]
    found: dict[str, ET.Element] = {}
    for offer in root.find(f"{NS}offers") or []:
        sku = offer.get("sku") or ""
        assert offer.tag == f"{NS}offer" and re.fullmatch(r"[A-Za-z0-9]{1,20}", sku)
        assert sku not in found, f"SKU {sku} twice"
        tags = [child.tag.removeprefix(NS) for child in offer]
        assert tags in (
            ["model", "availabilities", "price"],
            ["model", "brand", "availabilities", "price"],
        ), tags
        assert (offer.findtext(f"{NS}model") or "").strip()
        assert re.fullmatch(r"[0-9]+", offer.findtext(f"{NS}price") or "")
        for availability in offer.find(f"{NS}availabilities") or []:
            assert availability.tag == f"{NS}availability"
            assert availability.get("available") in ("yes", "no")
            assert availability.get("storeId")
            assert re.fullmatch(r"[0-9]*", availability.get("stockCount", ""))
        found[sku] = offer
    return found


def availability(offer: ET.Element) -> dict[str, tuple[str, str | None]]:
    return {
        a.get("storeId") or "": (a.get("available") or "", a.get("stockCount"))
        for a in offer.iter(f"{NS}availability")
    }


def test_every_variant_is_an_offer_with_its_stock_per_kaspi_store_and_the_price_of_the_day(
    feed_services,
):
    save(
        feed_services,
        product(
            "1",
            variant(
                "1a", "MUG01", stock=7, stock_by_warehouse={"almaty": 2, "almaty-2": 3, "astana": 2}
            ),
            variant("1b", "MUG02", stock=0, stock_by_warehouse={"almaty": 0, "astana": 0}),
        ),
        product(
            "2",
            variant(
                "2",
                "TEA7",
                price="1000.50",
                sale_price="799.50",
                sale_from="2026-12-01T00:00:00+00:00",
                sale_to="2026-12-31T00:00:00+00:00",
            ),
        ),
        product("3", variant("3", "SOLD9", stock=4, stock_by_warehouse={"almaty": 4})),
    )
    with feed_services.engine.begin() as connection:
        mark_deleted(connection, "3", now=NOW.timestamp())

    answer = fetch(feed_services)

    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    assert answer.is_streamed
    root = ET.fromstring(answer.data)
    assert root.findtext(f"{NS}company") == "ТОО «Ромашка» & Co"
    assert root.findtext(f"{NS}merchantid") == "30286450"
    found = offers(answer.data)
    assert sorted(found) == ["MUG01", "MUG02", "SOLD9", "TEA7"]
    assert availability(found["MUG01"]) == {"PP1": ("yes", "5"), "PP2": ("yes", "2")}
    assert found["MUG01"].findtext(f"{NS}model") == "Item 1a"
    # sold out and deleted: listed, unavailable in every store, never missing
    assert availability(found["MUG02"]) == {"PP1": ("no", "0"), "PP2": ("no", "0")}
    assert availability(found["SOLD9"]) == {"PP1": ("no", "0"), "PP2": ("no", "0")}
    # stock not tracked: available with no count; the sale price inside its dates, whole tenge
    assert availability(found["TEA7"]) == {"PP1": ("yes", None), "PP2": ("yes", None)}
    assert found["TEA7"].findtext(f"{NS}price") == "800"
    assert found["MUG01"].findtext(f"{NS}price") == "1990"


def test_a_variant_kaspi_cannot_take_is_left_out_with_a_warning_naming_its_product(
    feed_services, caplog
):
    save(
        feed_services,
        product("7", variant("7", "MUG-01"), variant("7b", None), variant("7c", "OK1")),
        product("8", variant("8", "OK1")),  # a second product with the same SKU
        product("9", variant("9", "NOPRICE", price=None)),  # type: ignore[arg-type]
    )
    with caplog.at_level(logging.WARNING, logger="connector.kaspi.feed"):
        answer = fetch(feed_services)
    assert answer.status_code == 200
    assert sorted(offers(answer.data)) == ["OK1"]
    text = caplog.text
    assert "product 7 left out" in text and "product 8 left out: SKU OK1 repeats" in text
    assert "product 9 left out" in text and "4 variant(s) left out" in text


def test_an_unchanged_catalogue_is_answered_304_and_a_change_gives_a_new_etag(feed_services):
    save(
        feed_services,
        product("1", variant("1", "MUG01", stock=3, stock_by_warehouse={"astana": 3})),
    )
    first = fetch(feed_services)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    assert fetch(feed_services, **{"If-None-Match": etag}).status_code == 304
    assert fetch(feed_services, **{"If-Modified-Since": modified}).status_code == 304
    assert fetch(feed_services).data == first.data  # the same document, byte for byte

    save(
        feed_services,
        product("1", variant("1", "MUG01", stock=2, stock_by_warehouse={"astana": 2})),
    )
    feed_services.queue.clock = (NOW + dt.timedelta(seconds=5)).timestamp
    changed = fetch(feed_services, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert availability(offers(changed.data)["MUG01"]) == {"PP1": ("no", "0"), "PP2": ("yes", "2")}


def test_a_sale_that_starts_changes_the_etag_though_nothing_was_written(feed_services):
    save(
        feed_services,
        product(
            "2",
            variant(
                "2", "TEA7", price="1000", sale_price="800", sale_from="2026-12-05T00:00:00+00:00"
            ),
        ),
    )
    before = fetch(feed_services)
    assert offers(before.data)["TEA7"].findtext(f"{NS}price") == "1000"

    feed_services.queue.clock = (NOW + dt.timedelta(days=1)).timestamp
    after = fetch(feed_services, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert offers(after.data)["TEA7"].findtext(f"{NS}price") == "800"


def test_a_wrong_or_unset_token_finds_nothing(feed_services, tmp_path):
    save(feed_services, product("1", variant("1", "MUG01")))
    assert fetch(feed_services, "/feeds/kaspi/guess.xml").status_code == 404
    assert b"MUG01" not in fetch(feed_services, f"/feeds/kaspi/{TOKEN[:-1]}x.xml").data
    off = Services(make_settings(tmp_path / "off", kaspi_merchant_id="1"))
    try:
        assert fetch(off, URL).status_code == 404
    finally:
        off.close()


def test_without_a_store_map_every_warehouse_is_one_store(tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "defaults.yaml").write_text("defaults: {phone_region: KZ}\n")
    services = Services(
        make_settings(
            tmp_path, mappings_dir=str(folder), kaspi_feed_token=TOKEN, kaspi_merchant_id="1"
        )
    )
    try:
        save(
            services,
            product("1", variant("1", "MUG01", stock=3, stock_by_warehouse={"a": 1, "b": 2})),
        )
        answer = fetch(services)
        assert availability(offers(answer.data)["MUG01"]) == {"default": ("yes", "3")}
    finally:
        services.close()


def test_the_shipped_store_map_puts_the_shops_stock_in_store_pp1(tmp_path):
    shipped = Path(__file__).parents[2] / "mappings" / "kaspi" / "store.yaml"
    folder = write_mappings(tmp_path / "mappings", shipped.read_text())
    services = Services(
        make_settings(
            tmp_path, mappings_dir=str(folder), kaspi_feed_token=TOKEN, kaspi_merchant_id="1"
        )
    )
    try:
        save(services, product("1", variant("1", "MUG01", stock=3)))
        answer = fetch(services)
        assert availability(offers(answer.data)["MUG01"]) == {"PP1": ("yes", "3")}
    finally:
        services.close()


def test_the_catalogue_rules_can_turn_the_feed_off(tmp_path):
    folder = write_mappings(tmp_path / "mappings")
    (folder / "catalogue.yaml").write_text(
        "catalogue:\n  master: woocommerce\n  currency: KZT\n"
        "  copies:\n    kaspi: {enabled: false}\n"
    )
    services = Services(
        make_settings(
            tmp_path, mappings_dir=str(folder), kaspi_feed_token=TOKEN, kaspi_merchant_id="1"
        )
    )
    try:
        save(services, product("1", variant("1", "MUG01")))
        assert fetch(services).status_code == 404
    finally:
        services.close()


def test_prices_in_another_currency_are_listed_with_a_warning_to_say_so(feed_services, caplog):
    save(
        feed_services,
        product("1", Variant(variant_id="1", sku="MUG01", name="Mug", price="5", currency="USD")),
    )
    with caplog.at_level(logging.WARNING, logger="connector.kaspi.feed"):
        answer = fetch(feed_services)
    assert offers(answer.data)["MUG01"].findtext(f"{NS}price") == "5"
    assert "prices in USD are listed as tenge" in caplog.text
