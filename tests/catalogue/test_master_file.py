"""A CSV or POS export as the catalogue's master: read in one pass, bad rows named by file, line
and column, products gone from a clean file kept as deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connector.catalogue import product, products
from connector.catalogue.intake import read_file
from connector.services import Services
from tests.support import make_settings

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
HEADER = "Article;Name;Price;Sale;Qty\n"


@pytest.fixture
def file_services(tmp_path: Path):
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    export = tmp_path / "export.csv"
    rules = (folder / "catalogue.yaml").read_text(encoding="utf-8")
    rules = rules.replace("master: woocommerce ", f"master: pos\n  file: {export}\n  ")
    rules = rules.replace(
        "# columns: {sku: Article, price: Price, stock: Qty}",
        "columns: {sku: Article, name: Name, price: Price, sale_price: Sale, stock: Qty}",
    )
    rules = rules.replace("rounding: 0.01 ", "rounding: 1 ")
    (folder / "catalogue.yaml").write_text(rules, encoding="utf-8")
    built = Services(make_settings(tmp_path, mappings_dir=folder))
    yield built, export
    built.close()


def test_a_pos_export_is_the_master_and_a_product_missing_from_it_stays_as_deleted(file_services):
    services, export = file_services
    export.write_text(HEADER + "TEA-1;Green tea;3.40;;5\nMUG-2;Mug;9.60;8.2;0\n", encoding="utf-8")
    assert read_file(services)[:2] == (2, 0)
    tea = product(services.engine, "TEA-1")
    assert tea is not None and tea.master == "pos"
    assert (tea.variants[0].price, tea.variants[0].stock, tea.available) == ("3.00", 5, True)
    mug = product(services.engine, "MUG-2")
    assert mug is not None and not mug.available  # sold out: kept, unavailable
    assert mug.variants[0].sale_price == "8.00"  # rounded to whole units

    export.write_text(HEADER + "TEA-1;Green tea;3.40;;five\n", encoding="utf-8")
    changed, deleted, problems = read_file(services)
    assert [str(p) for p in problems] == [f"{export}:2: column Qty: not a number: 'five'"]
    assert deleted == 0  # a file with bad rows says nothing sure about what is missing

    export.write_text(HEADER + "TEA-1;Green tea;4.00;;5\n", encoding="utf-8")
    assert read_file(services)[:2] == (1, 1)
    statuses = {p.product_id: p.status for p in products(services.engine)}
    assert statuses == {"TEA-1": "active", "MUG-2": "deleted"}
