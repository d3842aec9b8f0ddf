"""`connector mappings validate|show|try` as an admin uses them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from connector.cli import main
from tests.mapping.conftest import FIXTURES, MAPPINGS, SPECS


def run(*args: str):
    return CliRunner().invoke(main, ["mappings", *args])


def test_validate_the_shipped_mappings_exits_0_with_a_summary() -> None:
    result = run("validate", str(MAPPINGS))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ") and "mappings" in result.output


def test_validate_prints_every_error_and_exits_1(write_mappings) -> None:
    folder = write_mappings(
        {
            "shop/customer.yaml": """
                system: shop
                entity: customer
                fields:
                  - {canonical: emial, system: email, transforms: [phnoe]}
                  - {canonical: phone, system: phone, tranforms: [phone]}
            """,
        }
    )
    result = run("validate", str(folder))
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 3
    assert lines[0].endswith(
        "shop/customer.yaml:4: emial: unknown transform 'phnoe' (did you mean 'phone'?)"
    )
    assert lines[1].endswith(
        "shop/customer.yaml:4: emial: unknown customer field 'emial' (did you mean 'email'?)"
    )
    assert lines[2].endswith(
        "shop/customer.yaml:5: phone: unknown key 'tranforms' (did you mean 'transforms'?)"
    )


def test_show_prints_the_effective_mapping() -> None:
    result = run("show", "bitrix24", "contact", "--dir", str(MAPPINGS))
    assert result.exit_code == 0, result.output
    assert "PHONE[VALUE_TYPE=WORK].VALUE" in result.output
    assert "owner=bitrix24" in result.output and "on_create_only" in result.output


def test_show_prints_a_value_map() -> None:
    result = run("show", "bitrix24", "deal_stage", "--dir", str(MAPPINGS))
    assert result.exit_code == 0, result.output
    assert "EXECUTING" in result.output and "unmapped in: error" in result.output


def test_try_in_maps_a_sample_payload_to_canonical() -> None:
    sample = SPECS / "woocommerce/order.json"
    result = run("try", "woocommerce", "order", "--in", str(sample), "--dir", str(MAPPINGS))
    assert result.exit_code == 0, result.output
    order = json.loads(result.output)
    assert order["status"] == "processing" and order["total"] == "29.35"
    assert order["lines"][1]["sku"] == "Bar3"


def test_try_in_reads_a_pos_csv() -> None:
    sample = FIXTURES / "pos/sales.csv"
    result = run("try", "pos", "order", "--in", str(sample), "--dir", str(MAPPINGS))
    receipts = json.loads(result.output)
    assert [r["total"] for r in receipts] == ["9.25", "5.25"]


def test_try_out_maps_canonical_to_the_system(tmp_path) -> None:
    canonical = tmp_path / "order.json"
    canonical.write_text(json.dumps({"id": "727", "status": "processing", "total": "29.35"}))
    result = run(
        "try", "bitrix24", "deal", "--out", str(canonical), "--create", "--dir", str(MAPPINGS)
    )
    assert result.exit_code == 0, result.output
    deal = json.loads(result.output)
    assert deal["STAGE_ID"] == "EXECUTING" and deal["OPPORTUNITY"] == "29.35"
    assert deal["TYPE_ID"] == "SALE"


def test_try_needs_exactly_one_direction() -> None:
    result = run("try", "shop", "order", "--dir", str(MAPPINGS))
    assert result.exit_code == 2 and "exactly one of --in FILE or --out FILE" in result.output
