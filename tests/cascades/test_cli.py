"""`connector cascades try|list` as support uses them: a dry run prints each step's time in the
customer's zone, channel, masked address and text, or why it is skipped, and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import main
from connector.flows.hub import change_snapshot
from connector.identity import add_keys, customer_keys
from connector.services import Services
from connector.store.tables import cascade_runs, cascade_sends, tasks
from connector.tasks import build_registry
from tests.cascades.conftest import MAPPINGS
from tests.support import make_settings

SCENARIOS = """\
cascades:
  defaults: {quiet_hours: "21:00-09:00"}
  scenarios:
    cart:
      title: Abandoned cart
      trigger: {event: cart.left, after: 60m}
      stop: [order_placed]
      steps:
        - {channel: mandrill, subject: "{customer.first_name}, your cart", text: "{cart.total}"}
        - {channel: [telegram, smsru], delay: 12h, text: "Back to {cart.checkout_url}"}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    (folder / "cascades.yaml").write_text(SCENARIOS, encoding="utf-8")
    settings = make_settings(tmp_path, mappings_dir=str(folder), smsru_api_id="key")
    services = Services(settings)
    with services.engine.begin() as connection:
        values = {"id": "c1", "phone": "+79161234567", "email": "anna@example.com",
                  "first_name": "Anna", "marketing_consent": True}  # fmt: skip
        change_snapshot(connection, "customer", "c1", lambda _: values)
        add_keys(connection, "c1", customer_keys(phone="+79161234567"))
    services.close()
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(folder))
    monkeypatch.setenv("CONNECTOR_SMSRU_API_ID", "key")
    monkeypatch.setenv("CONNECTOR_CASCADES_TIME_ZONE", "Europe/Moscow")
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    return CliRunner()


def test_try_prints_when_how_and_what_each_step_would_send_and_sends_nothing(cli) -> None:
    result = cli.invoke(main, ["cascades", "try", "cart", "--phone", "8 916 123-45-67"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "cart: Abandoned cart" in lines[0]
    assert "  stops on: order_placed" in lines
    first = lines.index(next(line for line in lines if line.startswith("step 1 (step 1) at")))
    assert "Europe/Moscow" in lines[first]
    assert lines[first + 1] == "  skipped: mandrill: not configured"
    second = next(i for i, line in enumerate(lines) if line.startswith("step 2"))
    assert lines[second + 1] == "  via smsru to +7***67"  # telegram: no chat bound, no address
    assert "  text: Back to {cart.checkout_url}" in lines  # no cart yet: the field shows itself
    assert lines[-1] == "nothing was sent"


def test_try_names_an_unknown_scenario_with_a_hint(cli) -> None:
    result = cli.invoke(main, ["cascades", "try", "crat", "--phone", "+79161234567"])
    assert result.exit_code == 2
    assert "no scenario 'crat' (did you mean 'cart'?)" in result.output


def test_list_shows_each_scenario_its_trigger_steps_and_stops(cli) -> None:
    result = cli.invoke(main, ["cascades", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:4] == [
        "on  cart: Abandoned cart (on cart.left after 1h)",
        "      1. +0 mandrill (marketing)",
        "      2. +12h telegram or smsru (marketing)",
        "      stops on: order_placed",
    ]


def test_the_dry_run_writes_nothing(cli, tmp_path: Path) -> None:
    cli.invoke(main, ["cascades", "try", "cart", "--email", "anna@example.com"])
    services = Services(make_settings(tmp_path))
    with services.engine.connect() as connection:
        for table in (cascade_runs, cascade_sends, tasks):
            assert connection.execute(select(func.count()).select_from(table)).scalar() == 0
    services.close()


def test_the_worker_knows_the_cascade_task_kinds() -> None:
    kinds = build_registry().kinds()
    assert {"cascade.event", "cascade.step", "push.bitrix24.cascade"} <= set(kinds)


def test_trace_prints_her_runs_with_each_send_and_why_it_ended(cli, tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    with services.engine.begin() as connection:
        run_id = connection.execute(
            cascade_runs.insert().values(
                scenario="cart",
                customer_id="c1",
                trigger_key="cart.updated:c1:k1",
                trigger={"event": "cart.updated", "ref": "k1", "at": 1.0},
                state="converted",
                step=1,
                started_at=1.0,
                updated_at=2.0,
                ended_at=2.0,
                stop_reason="order placed",
                converted_step=0,
                converted_ref="o1",
            )  # fmt: skip
        ).inserted_primary_key[0]
        connection.execute(
            cascade_sends.insert().values(
                run_id=run_id,
                step=0,
                idem_key=f"{run_id}:0",
                customer_id="c1",
                channel="smsru",
                medium="sms",
                marketing=1,
                state="sent",
                address="+79161234567",
                provider_id="201",
                status="delivered",
                created_at=1.0,
            )  # fmt: skip
        )
    services.close()
    result = cli.invoke(main, ["trace", "--phone", "+79161234567"])
    assert result.exit_code == 0, result.output
    assert "cascades" in result.output
    row = next(line for line in result.output.splitlines() if " cart " in line)
    assert "converted" in row and "1 smsru sent (delivered)" in row
    assert "order placed after step 1 (order o1)" in row
