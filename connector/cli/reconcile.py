"""`connector reconcile`: is every order and customer of the shop where it should be?"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from connector.cli._common import build_services, env_file_option
from connector.sync.times import utc


@click.command()
@env_file_option
@click.option("--check", is_flag=True, help="List the differences (the default).")
@click.option("--fix", is_flag=True, help="List them and enqueue the tasks that repair them.")
@click.option(
    "--system", default=None, help="Only this system (hub, bitrix24, mailchimp, loyalty)."
)
@click.option("--since", default=None, help="Only orders created since DATE (UTC unless given).")
@click.option("--until", default=None, help="Only orders created before DATE.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile(
    env_file: str | None,
    check: bool,
    fix: bool,
    system: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Compare the shop's orders and customers with Bitrix24, Mailchimp and the bonus ledger.

    Lists every difference: missing, duplicated, amount or status differs, customer missing.
    Exit code 1 when there is any. With --fix, enqueues the tasks that repair them (the same
    ones a webhook or poll would) and exits 1 only when some need a person (a duplicate).
    An empty queue is not convergence: run this after an outage, or on a schedule.
    """
    from connector.sync.reconcile import Period, UnknownSide
    from connector.sync.reconcile import reconcile as run

    if check and fix:
        raise UnknownSide("--check and --fix: give one of them")
    period = Period(
        utc(since, "--since") if since else None, utc(until, "--until") if until else None
    )
    if period.since and period.until and period.since >= period.until:
        raise UnknownSide("--until: must be later than --since")
    services = build_services(env_file)
    report = run(services, period, only=system, fix=fix)
    if as_json:
        click.echo(json.dumps(report.as_dict(), default=str))
    else:
        _print(report, fix)
    if fix:
        sys.exit(1 if report.for_a_person else 0)
    sys.exit(1 if report.differences else 0)


def _print(report: Any, fix: bool) -> None:
    systems = ", ".join(report.systems) or "(none configured)"
    click.echo(f"orders created {report.period.describe()}; compared with: {systems}")
    click.echo("read: " + ", ".join(f"{name} {count:,}" for name, count in report.read.items()))
    for difference in report.differences:
        click.echo(difference.describe())
    counts = ", ".join(f"{name} {count:,}" for name, count in report.counts().items())
    total = len(report.differences)
    if total:
        click.echo(f"{total:,} difference{'s' if total != 1 else ''} ({counts})")
    else:
        click.echo("no differences")
    if report.unfinished_tasks:
        click.echo(
            f"note: {report.unfinished_tasks:,} tasks are still queued or running; some of these "
            "differences may be on their way (check again when the queue is empty)"
        )
    if not fix:
        if total:
            click.echo("run with --fix to enqueue the repairs")
        return
    repairs = report.repairs
    for task in repairs.tasks if repairs is not None else []:
        click.echo(f"enqueued {task.kind} {json.dumps(task.payload, default=str)}")
    if repairs is not None and repairs.tasks:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in repairs.counts().items())
        already = len(repairs.tasks) - report.enqueued
        tail = f" ({already:,} already queued)" if already else ""
        click.echo(f"enqueued {report.enqueued:,} repair tasks: {kinds}{tail}")
    if report.for_a_person:
        click.echo(f"{len(report.for_a_person):,} need a person (no task repairs them):")
        for difference in report.for_a_person:
            click.echo(f"  {difference.describe()}")


command = reconcile
