"""`connector cascades report [--scenario S] [--since 7d] [--json]` as marketing reads it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.services import Services
from tests.cascades.report_rows import Send, add_run


@pytest.fixture
def cli(services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    now = time.time()
    engine = services.engine
    add_run(engine, "abandoned_cart", "a", "converted", started_at=now - 3600, took=1800,
            converted_step=0, sends=[Send(0, "mandrill", status="delivered")])  # fmt: skip
    add_run(engine, "abandoned_cart", "b", "stopped", started_at=now - 3600, took=60,
            stop_reason="opted out",
            sends=[Send(0, "smsru", "skipped", reason="no address")])  # fmt: skip
    add_run(engine, "abandoned_cart", "c", "finished", started_at=now - 30 * 86400, took=60,
            sends=[Send(0, "mandrill")])  # fmt: skip
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(tmp_path / "no-mappings"))
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    return CliRunner()


def test_the_report_prints_each_scenarios_steps_and_funnel_for_the_period(cli: CliRunner) -> None:
    result = cli.invoke(main, ["cascades", "report", "--since", "7d"])

    assert result.exit_code == 0, result.output
    assert "scenario abandoned_cart (since " in result.output
    assert "entered 2 · converted 1 (50.0%) · median time to convert 30 min" in result.output
    assert "no address 1" in result.output and "stopped: opted out 1" in result.output
    assert "  converted    1  " + "█" * 20 + "\n" in result.output


def test_the_report_as_json_for_one_scenario_over_every_run(cli: CliRunner) -> None:
    result = cli.invoke(main, ["cascades", "report", "--scenario", "abandoned_cart", "--json"])

    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)["scenarios"]
    assert (found["entered"], found["converted"], found["finished"]) == (3, 1, 1)
    assert found["steps"][0]["channels"] == {"mandrill": 2}
    assert found["steps"][0]["skipped"] == {"no address": 1}
    assert found["conversion_rate"] == pytest.approx(0.3333, abs=1e-4)


def test_a_bad_period_or_an_unknown_scenario_is_named(cli: CliRunner) -> None:
    period = cli.invoke(main, ["cascades", "report", "--since", "a week"])
    nobody = cli.invoke(main, ["cascades", "report", "--scenario", "abandoned_kart"])

    assert period.exit_code == 2 and "--since" in period.output
    assert "'a week' is no period" in period.output
    assert nobody.exit_code == 2 and "no scenario 'abandoned_kart'" in nobody.output
