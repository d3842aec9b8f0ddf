"""Store sales from a POS export: one `shop.order` per receipt, twice = once, bad rows named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.mapping import MappingSet
from connector.sync.pos import ImportFileError, UnknownSource, import_orders
from tests.sync.conftest import queued

SALES = """Receipt Number,Date,Card Number,Phone,Email,SKU,Name,Qty,Price,Total
R-1001,2026-11-20 10:15:00,CARD-7,8 (912) 123-45-67,ann@example.com,TEA-1,Green tea,2,3.50,7.00
R-1001,2026-11-20 10:15:00,CARD-7,8 (912) 123-45-67,ann@example.com,MUG-2,Mug,1,9.00,9.00

R-1002,2026-11-20 11:00:00,,,bob@example.com,TEA-1,Green tea,1,3.50,3.50
R-1003,20.11.2026 12:00,,,,TEA-1,Green tea,1,3.50,3.50
R-1003,2026-11-20 12:00:00,,,,MUG-2,Mug,one,9.00,9.00
"""


@pytest.fixture(scope="module")
def mapping_set():
    return MappingSet.load(Path(__file__).resolve().parents[2] / "mappings")


@pytest.fixture
def sales(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(SALES, encoding="utf-8")
    return str(path)


def test_each_good_receipt_becomes_one_shop_order(services, mapping_set, sales):
    summary = import_orders(services.queue, mapping_set, sales)
    assert (summary.rows, summary.receipts, summary.enqueued) == (5, 3, 2)
    assert summary.rejected_receipts == 1
    first, second = queued(services, "shop.order")
    assert first["dedupe_key"] == "import:pos:order:R-1001"
    assert first["ordering_key"] == "order:shop:pos-R-1001"
    payload = first["payload"]
    assert payload["source"] == "pos" and payload["type"] == "order.created"
    data = payload["data"]
    assert data["id"] == "pos-R-1001" and data["number"] == "R-1001"
    assert data["totals"]["total"] == "16.00" and data["status"] == "completed"
    assert data["customer"] == {
        "email": "ann@example.com",
        "phone": "+79121234567",
        "loyalty_card": "CARD-7",
    }
    assert [line["sku"] for line in data["lines"]] == ["TEA-1", "MUG-2"]
    assert data["created_at"] == "2026-11-20T10:15:00+00:00"
    assert second["payload"]["data"]["number"] == "R-1002"


def test_bad_rows_are_named_by_file_line_and_column(services, mapping_set, sales):
    summary = import_orders(services.queue, mapping_set, sales)
    messages = [str(bad) for bad in summary.bad_rows]
    assert messages[0].startswith(f"{sales}:6: column Date: not a date/time")
    assert messages[0].endswith("(receipt R-1003 not imported)")
    assert messages[1].startswith(f"{sales}:7: column Qty: not a number: 'one'")


def test_importing_the_same_file_twice_changes_nothing(services, mapping_set, sales):
    import_orders(services.queue, mapping_set, sales)
    before = queued(services)
    again = import_orders(services.queue, mapping_set, sales)
    assert again.enqueued == 0 and again.already_imported == 2
    assert queued(services) == before


def test_a_dry_run_checks_and_enqueues_nothing(services, mapping_set, sales):
    summary = import_orders(services.queue, mapping_set, sales, dry_run=True)
    assert summary.enqueued == 2 and queued(services) == []


def test_files_that_cannot_be_imported_say_why(services, mapping_set, tmp_path):
    mappings = mapping_set
    with pytest.raises(ImportFileError, match="cannot read"):
        import_orders(services.queue, mappings, str(tmp_path / "missing.csv"))
    headless = tmp_path / "headless.csv"
    headless.write_text("Date,Total\n2026-11-20 10:00:00,1.00\n")
    with pytest.raises(ImportFileError, match=r"headless.csv:1: no receipt number column"):
        import_orders(services.queue, mappings, str(headless))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"Receipt Number,Name\nR1,Caf\xe9\n")
    with pytest.raises(ImportFileError, match=r"latin.csv:2: not UTF-8"):
        import_orders(services.queue, mappings, str(latin))
    with pytest.raises(UnknownSource, match="--source: no mapping for 'till'"):
        import_orders(services.queue, mappings, str(latin), source="till")
    with pytest.raises(UnknownSource, match="does not read CSV rows"):
        import_orders(services.queue, mappings, str(latin), source="woocommerce")


@pytest.fixture
def env_file(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
    path = tmp_path / "empty.env"
    path.write_text("")
    return str(path)


def test_the_command_imports_reports_and_exits_1_on_bad_rows(env_file, sales):
    result = CliRunner().invoke(main, ["import", "orders", sales, "--env-file", env_file])
    assert result.exit_code == 1
    assert f"{sales}:6: column Date:" in result.stderr
    assert "5 rows, 3 receipts: 2 imported, 0 already imported, 1 rejected" in result.stdout
    again = CliRunner().invoke(
        main, ["import", "orders", sales, "--source", "pos", "--json", "--env-file", env_file]
    )
    assert json.loads(again.stdout)["already_imported"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["orders", "nowhere.csv"], "error: nowhere.csv: cannot read"),
        (["invoices", "x.csv"], "error: import: cannot import 'invoices'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(env_file, args, message):
    result = CliRunner().invoke(main, ["import", *args, "--env-file", env_file])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message) and len(result.stderr.splitlines()) == 1
