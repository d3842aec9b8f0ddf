"""Stock at the till and at the checkout, read from the one catalogue; and a catalogue.yaml an
admin got wrong names its file and line."""

from __future__ import annotations

import json
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from sqlalchemy import select, update

from connector.app import create_app
from connector.catalogue import Product, Variant, save_product
from connector.catalogue.rules import check_rules_file
from connector.catalogue.stock import offline_sale
from connector.mapping import MappingSet
from connector.queue import Task
from connector.services import Services
from connector.store.tables import catalogue_stock_writes, tasks
from connector.sync.pos import import_orders
from connector.tasks import TaskContext
from tests.support import make_settings

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
WC = "https://shop.test/wp-json/wc/v3"
TOKEN = "checkout-token"
SALES = """Receipt Number,Date,Card Number,Phone,Email,SKU,Name,Qty,Price,Total
R-1,2026-11-20 10:15:00,,,,TEA-1,Green tea,2,3.50,7.00
R-1,2026-11-20 10:15:00,,,,GONE-1,Old mug,1,9.00,9.00
"""


def _folder(tmp_path: Path, **changes: str) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    text = (folder / "catalogue.yaml").read_text(encoding="utf-8")
    for old, new in changes.items():
        text = text.replace(old, new)
    (folder / "catalogue.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def shop_services(tmp_path: Path):
    folder = _folder(tmp_path, **{"master_writes: false": "master_writes: true"})
    built = Services(
        make_settings(
            tmp_path,
            mappings_dir=folder,
            woocommerce_url="https://shop.test",
            woocommerce_key="ck_x",
            woocommerce_secret="cs_x",
            admin_token=TOKEN,
        )
    )
    with built.engine.begin() as connection:
        for pid, sku, stock, status in (
            ("10", "TEA-1", 5, "active"),
            ("11", "GONE-1", 3, "deleted"),
        ):
            variant = Variant(pid, sku, sku, "3.50", "USD", stock=stock)
            save_product(connection, Product(pid, sku, (variant,), status=status))
    yield built
    built.close()


def _run(services: Services, task_row: dict) -> None:
    task = Task(task_row["id"], task_row["kind"], task_row["payload"], 1, None, 0.0, time.time())
    offline_sale(TaskContext(task, services), dict(task_row["payload"]))


def test_a_till_sale_decrements_the_shops_stock_once_though_import_and_task_are_retried(
    shop_services, tmp_path
):
    sales = tmp_path / "sales.csv"
    sales.write_text(SALES, encoding="utf-8")
    mapping_set = MappingSet.load(MAPPINGS)
    first = import_orders(shop_services.queue, mapping_set, str(sales))
    import_orders(shop_services.queue, mapping_set, str(sales))  # the same file again
    assert first.stock_flags == ["receipt R-1: SKU GONE-1: unavailable"]
    with shop_services.engine.connect() as connection:
        rows = connection.execute(select(tasks).where(tasks.c.kind == "catalogue.offline_sale"))
        [sale] = [dict(row) for row in rows.mappings()]

    shop = {"stock": 5}
    puts: list[int] = []

    def get(_request):
        return (
            200,
            {},
            json.dumps({"id": 10, "manage_stock": True, "stock_quantity": shop["stock"]}),
        )

    def put(request):
        shop["stock"] = json.loads(request.body)["stock_quantity"]
        puts.append(shop["stock"])
        return 200, {}, json.dumps({"id": 10, "stock_quantity": shop["stock"]})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.GET, f"{WC}/products/10", callback=get)
        mocked.add_callback(responses.PUT, f"{WC}/products/10", callback=put)
        _run(shop_services, sale)
        # the worker died after the PUT, before the line was marked written: run again
        with shop_services.engine.begin() as connection:
            connection.execute(update(catalogue_stock_writes).values(state="reserved"))
        _run(shop_services, sale)
        _run(shop_services, sale)

    assert puts == [3]  # 5 - 2, exactly once
    with shop_services.engine.connect() as connection:
        states = dict(connection.execute(
            select(catalogue_stock_writes.c.sku, catalogue_stock_writes.c.state)
        ).all())  # fmt: skip
    assert states == {"TEA-1": "written", "GONE-1": "skipped"}


def test_the_checkout_refuses_a_hold_whose_line_is_sold_out_and_names_the_sku(shop_services):
    from connector.loyalty.tasks import provider_for

    ledger = provider_for(shop_services)
    ledger.open_account("cust-1", card="77001")
    ledger.accrue("cust-1", "receipt-1", Decimal(100))
    client = create_app(shop_services).test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"card": "77001", "order_id": "woo-1", "amount": "10"}

    short = client.post(
        "/api/loyalty/holds",
        json={**body, "lines": [{"sku": "TEA-1", "quantity": 9}]},
        headers=auth,
    )
    gone = client.post(
        "/api/loyalty/holds", json={**body, "lines": [{"sku": "GONE-1"}]}, headers=auth
    )
    bad = client.post("/api/loyalty/holds", json={**body, "lines": "TEA-1"}, headers=auth)
    fine = client.post(
        "/api/loyalty/holds",
        json={**body, "lines": [{"sku": "TEA-1", "quantity": 2}, {"sku": "NEW-9"}]},
        headers=auth,
    )

    assert (short.status_code, short.get_json()["error"]) == (409, "out_of_stock")
    assert "TEA-1" in short.get_json()["message"]
    assert (gone.status_code, gone.get_json()["error"]) == (409, "out_of_stock")
    assert (bad.status_code, bad.get_json()["field"]) == (400, "lines")
    assert fine.status_code == 201
    assert [w["sku"] for w in fine.get_json()["stock_warnings"]] == ["NEW-9"]  # unknown: told


def test_a_wrong_catalogue_file_names_its_file_line_and_key(tmp_path):
    folder = _folder(
        tmp_path,
        **{"master: woocommerce ": "master: shopify ", "rounding: 0.01 ": "rounding: -1 "},
    )
    rules, errors = check_rules_file(str(folder / "catalogue.yaml"))
    assert rules is None
    text = [str(error) for error in errors]
    assert any("catalogue.yaml:5: master: must be one of woocommerce, csv, pos" in t for t in text)
    assert any("catalogue.yaml:10: rounding" in t for t in text), text
