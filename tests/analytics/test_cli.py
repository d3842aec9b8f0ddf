"""`connector analytics show|segments|export|recompute` as support and marketing use them."""

from __future__ import annotations

import csv
import time

import pytest
from click.testing import CliRunner

from connector.analytics.keeper import recompute_all
from connector.cli import main
from connector.cli.analytics import render_segments

PHONE = "+380671234567"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One store for the module (building one costs seconds): four customers' orders, then a
    nightly run, on the real clock (the commands read it)."""
    import shutil

    from connector.services import Services
    from tests.analytics.conftest import MAPPINGS, Clock, Shop
    from tests.support import make_settings

    folder = tmp_path_factory.mktemp("cli")
    shutil.copytree(MAPPINGS, folder / "mappings")
    services = Services(make_settings(folder, mappings_dir=folder / "mappings"))
    clock = Clock(time.time())
    services.queue.clock = clock
    shop = Shop(services, clock)
    ann = shop.order("A-1", "120.00", email="ann@example.com", phone=PHONE, days_ago=40)
    shop.order("A-2", "80.00", email="ann@example.com", phone=PHONE, days_ago=20)
    shop.order("B-1", "15.00", email="bob@example.com", days_ago=5)
    shop.order("C-1", "30.00", email="cy@example.com", days_ago=300)
    recompute_all(services)
    yield services, ann
    services.close()


@pytest.fixture
def cli(world, monkeypatch) -> CliRunner:
    services, _ = world
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(services.settings.mappings_dir))
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    return CliRunner()


@pytest.fixture
def customers(world) -> str:
    return world[1]


def test_show_by_phone_as_typed_gives_the_figures_and_why_the_segment(cli, customers):
    result = cli.invoke(main, ["analytics", "show", "--phone", "+38 067 123 45 67"])

    assert result.exit_code == 0, result.output
    assert "Potential loyalists" in result.output
    assert "200.0" in result.output  # lifetime value
    assert (
        "R 5: last order 20 days ago (thresholds for 5..2: 30, 60, 90, 180 days)" in result.output
    )
    assert "F 2: 2 orders" in result.output
    assert "segment Potential loyalists: the first grid row for R 4-5, F 2-3" in result.output
    assert "-> Potential loyalists (order)" in result.output  # the segment history


def test_show_of_an_unknown_customer_says_so_and_fails(cli, customers):
    result = cli.invoke(main, ["analytics", "show", "--email", "nobody@example.com"])

    assert result.exit_code == 1
    assert "no figures for this customer" in result.output


def test_segments_prints_sizes_revenue_and_bars(cli, customers):
    result = cli.invoke(main, ["analytics", "segments"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["segment", "customers", "share", "revenue"]
    hibernating = next(line for line in lines if line.startswith("Hibernating"))
    assert "1" in hibernating.split() and "30.00" in hibernating and "█" in hibernating
    assert lines[-1].split() == ["total", "3"]


def test_the_bar_chart_scales_to_the_largest_segment():
    text = render_segments([("Loyal", 40, 100_00), ("At risk", 10, 5_00)])

    loyal, at_risk = text.splitlines()[1:3]
    assert loyal.count("█") == 40 and at_risk.count("█") == 10
    assert " 80.0%" in loyal and " 20.0%" in at_risk


def test_export_writes_one_row_per_customer_for_marketing(cli, customers, tmp_path):
    path = tmp_path / "figures.csv"

    result = cli.invoke(main, ["analytics", "export", "--csv", str(path)])

    assert result.exit_code == 0, result.output
    assert "3 customers written" in result.output
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    ann = next(row for row in rows if row["email"] == "ann@example.com")
    assert (ann["phone"], ann["orders_count"], ann["revenue"], ann["average_check"]) == (
        PHONE,
        "2",
        "200.0",
        "100.0",
    )
    assert ann["segment"] == "Potential loyalists" and ann["rfm"].startswith("52")


def test_recompute_by_hand_can_rebuild_from_the_orders_the_hub_holds(cli, world):
    from connector.store.tables import analytics_orders

    services, _ = world
    with services.engine.begin() as connection:
        connection.execute(analytics_orders.delete())

    result = cli.invoke(main, ["analytics", "recompute", "--rebuild"])

    assert result.exit_code == 0, result.output
    assert "4 orders read from the hub" in result.output
    assert "3 customers, 0 changed" in result.output
