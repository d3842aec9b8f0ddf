"""`connector loyalty balance|history|rules` as support and admins use them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from connector.cli import main
from connector.loyalty import LedgerProvider, OrderEvent
from connector.store.tables import identity_keys


@pytest.fixture
def cli(settings, monkeypatch) -> CliRunner:
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    return CliRunner()


@pytest.fixture
def customer(ledger: LedgerProvider, services) -> str:
    ledger.open_account("cust-1", card="7700555")
    ledger.accrue("cust-1", "pos:receipt-9", Decimal(200), reason="offline purchase")
    ledger.apply_order_event("cust-1", "woo:1", OrderEvent("paid", total=Decimal(1000), version=1))
    with services.engine.begin() as connection:
        connection.execute(
            insert(identity_keys).values(kind="phone", value="+79125550123", canonical_id="cust-1")
        )
    return "cust-1"


def test_balance_by_card_as_json(cli, customer) -> None:
    result = cli.invoke(main, ["loyalty", "balance", "--card", "7700555", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["available"], data["pending"], data["customer_id"]) == (
        "200.00",
        "50.00",
        customer,
    )


def test_balance_by_phone_as_typed(cli, customer) -> None:
    result = cli.invoke(main, ["loyalty", "balance", "--phone", "8 (912) 555-01-23"])
    assert result.exit_code == 0, result.output
    assert "available 200.00  pending 50.00  held 0.00" in result.output


def test_unknown_customer_exits_1(cli, customer) -> None:
    result = cli.invoke(main, ["loyalty", "balance", "--card", "000"])
    assert result.exit_code == 1
    assert "no bonus account" in result.output


def test_no_selector_is_a_usage_error(cli, customer) -> None:
    assert cli.invoke(main, ["loyalty", "balance"]).exit_code == 2


def test_history_lists_every_entry_oldest_first(cli, customer) -> None:
    result = cli.invoke(main, ["loyalty", "history", "--customer", customer, "--json"])
    assert result.exit_code == 0, result.output
    kinds = [e["kind"] for e in json.loads(result.output)]
    assert kinds == ["accrual", "pending"]
    table = cli.invoke(main, ["loyalty", "history", "--card", "7700555"])
    assert "pos:receipt-9" in table.output and "woo:1" in table.output


def test_rules_reports_file_line_and_field(cli, tmp_path: Path) -> None:
    bad = tmp_path / "loyalty.yaml"
    bad.write_text("loyalty:\n  accrual:\n    percent: 150\n  expiry:\n    dayz: 3\n")
    result = cli.invoke(main, ["loyalty", "rules", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(":3: loyalty.accrual.percent: Must be greater" in line for line in lines), (
        result.output
    )
    assert any(":5: loyalty.expiry.dayz: unknown key 'dayz'" in line for line in lines), (
        result.output
    )


def test_rules_accepts_the_shipped_file(cli) -> None:
    result = cli.invoke(main, ["loyalty", "rules"])
    assert result.exit_code == 0, result.output
    assert "accrual 5%" in result.output


def test_tier_is_set_from_the_rules_tiers_only(cli, customer, ledger) -> None:
    result = cli.invoke(main, ["loyalty", "tier", "--card", "7700555", "gold"])
    assert result.exit_code == 0, result.output
    assert ledger.balance(customer).tier == "gold"
    refused = cli.invoke(main, ["loyalty", "tier", "--card", "7700555", "platinum"])
    assert refused.exit_code == 2 and "tiers: gold, silver" in refused.output
    assert cli.invoke(main, ["loyalty", "tier", "--customer", customer]).exit_code == 0
    assert ledger.balance(customer).tier is None
