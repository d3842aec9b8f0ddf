"""The canonical catalogue in the store: what the copies, the feed and the checkout read."""

from __future__ import annotations

import datetime as dt

from connector.catalogue import (
    Product,
    Variant,
    mark_deleted,
    products,
    save_product,
    variant_by_sku,
)


def _product(pid: str, price: str = "10.00", stock: int | None = 5) -> Product:
    return Product(
        product_id=pid,
        name=f"Product {pid}",
        variants=(
            Variant(
                variant_id=pid,
                sku=f"SKU-{pid}",
                name=f"Product {pid}",
                price=price,
                currency="KZT",
                stock=stock,
                stock_by_warehouse={"almaty": stock or 0},
            ),
        ),
    )


def test_a_product_saved_twice_unchanged_counts_as_one_change_and_reads_back_in_pages(services):
    with services.engine.begin() as connection:
        assert save_product(connection, _product("1")).changed
        assert not save_product(connection, _product("1")).changed
        assert save_product(connection, _product("1", price="12.00")).changed
        for pid in range(2, 8):
            save_product(connection, _product(str(pid)))
    read = list(products(services.engine, page=3))
    assert [p.product_id for p in read] == [str(i) for i in range(1, 8)]
    assert read[0].variants[0].price == "12.00"
    assert read[0].variants[0].stock_by_warehouse == {"almaty": 5}
    found = variant_by_sku(services.engine, "SKU-3")
    assert found is not None and found[0].product_id == "3"


def test_a_deleted_or_sold_out_product_stays_marked_unavailable(services):
    with services.engine.begin() as connection:
        save_product(connection, _product("1"))
        save_product(connection, _product("2", stock=0))
        assert mark_deleted(connection, "1")
    by_id = {p.product_id: p for p in products(services.engine)}
    assert by_id["1"].status == "deleted" and not by_id["1"].available
    assert by_id["2"].status == "active" and not by_id["2"].available


def test_a_sale_price_counts_only_inside_its_dates():
    variant = Variant(
        "1",
        "A",
        "A",
        "100.00",
        "KZT",
        sale_price="80.00",
        sale_from="2026-01-01T00:00:00",
        sale_to="2026-02-01T00:00:00",
    )
    assert variant.price_at(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) == "80.00"
    assert variant.price_at(dt.datetime(2026, 2, 1, tzinfo=dt.UTC)) == "100.00"
    assert variant.price_at(dt.datetime(2025, 12, 31, tzinfo=dt.UTC)) == "100.00"
