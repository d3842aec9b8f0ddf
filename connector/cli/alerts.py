"""`connector alerts`: send a test message, show the channels and incidents, evaluate once."""

from __future__ import annotations

import json
import sys
import time

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.cli._common import build_services, env_file_option


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp)) if timestamp else "-"


@click.group()
def alerts() -> None:
    """Alerts: channels (email, Telegram, webhook), incidents and the dead-letter digest."""


@alerts.command()
@env_file_option
def test(env_file: str | None) -> None:
    """Send a test message to every configured channel (exit 1 when one fails)."""
    from connector.alerts.evaluate import send_test
    from connector.alerts.status import configuration_problems

    services = build_services(env_file)
    for problem in configuration_problems(services.settings):
        click.echo(f"note: {problem}", err=True)
    outcome = send_test(services)
    for name, error in outcome.items():
        click.echo(f"{name}: {'sent' if error is None else 'FAILED: ' + error}")
    if any(error is not None for error in outcome.values()):
        sys.exit(1)


@alerts.command()
@env_file_option
@click.option("--all", "show_all", is_flag=True, help="Also the recent cleared incidents.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(env_file: str | None, show_all: bool, as_json: bool) -> None:
    """Show the channels and the open incidents (with --all, the recent ones too)."""
    from connector.alerts.status import channel_status, configuration_problems, incidents

    services = build_services(env_file)
    channels = channel_status(services.engine, services.settings)
    found = incidents(services.engine, open_only=not show_all)
    problems = configuration_problems(services.settings)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "channels": [c.__dict__ for c in channels],
                    "incidents": [i.__dict__ for i in found],
                    "problems": problems,
                },
                default=str,
            )
        )
        return
    console = Console()
    for problem in problems:
        console.print(f"note: {problem}", markup=False)
    if channels:
        table = Table("channel", "sends to", "last sent", "owed", "last error", title="channels")
        for channel in channels:
            table.add_row(
                channel.name,
                Text(channel.target),
                _when(channel.last_sent_at),
                str(channel.owed),
                Text(channel.last_error or ""),
            )
        console.print(table)
    if not found:
        console.print("no open incidents" if not show_all else "no incidents")
        return
    table = Table(
        "id", "state", "rule", "opened", "cleared", "summary", "messages", title="incidents"
    )
    for incident in found:
        table.add_row(
            str(incident.id),
            incident.state,
            incident.rule,
            _when(incident.opened_at),
            _when(incident.cleared_at) if incident.state != "notice" else "",
            Text(incident.summary),
            Text(", ".join(f"{k} {v}" for k, v in sorted(incident.sends.items()))),
        )
    console.print(table)


@alerts.command()
@env_file_option
def evaluate(env_file: str | None) -> None:
    """Evaluate the rules once and send what is owed (what the scheduler does every minute)."""
    from connector.alerts.evaluate import evaluate as run_evaluation

    result = run_evaluation(build_services(env_file))
    click.echo(
        f"opened: {', '.join(result.opened) or '-'}; cleared: {', '.join(result.cleared) or '-'};"
        f" digest: {result.digest or '-'}; sent: {result.sent or '-'};"
        f" failed: {result.failed or '-'}"
    )


command = alerts
