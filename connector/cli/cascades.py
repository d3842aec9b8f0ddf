"""`connector cascades`: the scenarios of mappings/cascades.yaml and their state (`list`), and a
dry run of one scenario for one customer (`try`): what would be sent, when and why, sending
nothing."""

from __future__ import annotations

import datetime as dt

import click

from connector.cli._common import build_services, env_file_option


@click.group()
def cascades() -> None:
    """Trigger cascades across channels: email, SMS, messengers (mappings/cascades.yaml)."""


def _duration(seconds: float) -> str:
    if not seconds:
        return "0"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@cascades.command(name="list")
@env_file_option
def list_(env_file: str | None) -> None:
    """Every scenario: on or off, its trigger, steps and stops, and its runs by state."""
    from sqlalchemy import func, select

    from connector.cascades.rules import rules_for
    from connector.store import reading
    from connector.store.tables import cascade_runs

    services = build_services(env_file)
    rules = rules_for(services.settings)
    if not rules.scenarios:
        click.echo("no scenarios (mappings/cascades.yaml is missing or empty)")
        return
    with reading(services.engine) as connection:
        counted = connection.execute(
            select(cascade_runs.c.scenario, cascade_runs.c.state, func.count()).group_by(
                cascade_runs.c.scenario, cascade_runs.c.state
            )
        ).all()
    runs: dict[str, dict[str, int]] = {}
    for name, state, count in counted:
        runs.setdefault(name, {})[state] = int(count)
    for scenario in rules.scenarios.values():
        state = "on " if scenario.enabled else "off"
        trigger = scenario.trigger.event
        if scenario.trigger.statuses:
            trigger += f" {'/'.join(sorted(scenario.trigger.statuses))}"
        if scenario.trigger.segment:
            trigger += f" {scenario.trigger.segment!r}"
        if scenario.trigger.after:
            trigger += f" after {_duration(scenario.trigger.after)}"
        click.echo(f"{state} {scenario.name}: {scenario.title} (on {trigger})")
        for step in scenario.steps:
            kind = "marketing" if step.marketing else "service"
            click.echo(
                f"      {step.index + 1}. +{_duration(step.delay)} {' or '.join(step.channels)}"
                f" ({kind})"
            )
        if scenario.stops:
            click.echo(f"      stops on: {', '.join(sorted(scenario.stops))}")
        held = runs.get(scenario.name, {})
        if held:
            click.echo("      runs: " + ", ".join(f"{k} {v}" for k, v in sorted(held.items())))


@cascades.command(name="try")
@click.argument("scenario")
@click.option("--phone", help="Phone, E.164 (+79161234567) or as the customer typed it.")
@click.option("--email", help="E-mail address.")
@env_file_option
def try_(scenario: str, phone: str | None, email: str | None, env_file: str | None) -> None:
    """What SCENARIO would send this customer if it started now: when, by which channel, what,
    and each skip with its reason. Sends nothing and writes nothing."""
    from connector.cascades.dryrun import plan
    from connector.cascades.rules import rules_for
    from connector.cli.analytics import find_customer
    from connector.flows.hub import load_snapshot
    from connector.mapping.errors import did_you_mean

    if not phone and not email:
        raise click.UsageError("give --phone or --email")
    services = build_services(env_file)
    rules = rules_for(services.settings)
    found = rules.get(scenario)
    if found is None:
        hint = did_you_mean(scenario, list(rules.scenarios))
        raise click.BadParameter(f"no scenario {scenario!r}{hint}", param_hint="SCENARIO")
    cid = find_customer(services, phone, email, None)
    customer = (load_snapshot(services.engine, "customer", cid) if cid else None) or {}
    if not customer:
        click.echo("customer unknown to the connector: as a new one, without consent")
        customer = {"phone": phone, "email": email}
    now = services.queue.clock()
    state = "" if found.enabled else " (disabled: it starts no run until enabled)"
    click.echo(f"{found.name}: {found.title}{state}")
    click.echo(f"  customer {customer.get('id') or '-'}; triggered now, {_when(now)}")
    if found.stops:
        click.echo(f"  stops on: {', '.join(sorted(found.stops))}")
    for item in plan(services, found, customer, now):
        click.echo(f"step {item.step} ({item.name}) at {item.local}")
        if item.skipped:
            click.echo(f"  skipped: {item.skipped}")
            continue
        click.echo(f"  via {item.channel} to {item.address}")
        if item.postponed:
            click.echo(f"  postponed: {item.postponed}")
        for label, value in (("subject", item.subject), ("template", item.template),
                             ("text", item.text)):  # fmt: skip
            if value:
                click.echo(f"  {label}: {value}")
        for name, value in item.variables.items():
            click.echo(f"  {name} = {value}")
    click.echo("nothing was sent")


def _when(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@cascades.command()
@click.option("--scenario", help="Only this scenario.")
@click.option(
    "--since", help="Only runs started within this period: 30m, 12h, 7d, 2w (default: all)."
)
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON.")
@env_file_option
def report(scenario: str | None, since: str | None, as_json: bool, env_file: str | None) -> None:
    """Per scenario: entered, sent per step and channel, skipped, delivered, converted and
    after which step, the median time to convert, and why runs stopped."""
    import json

    from connector.cascades.report import declared, period_seconds, render
    from connector.cascades.report import report as figures
    from connector.errors import ConfigError
    from connector.mapping.errors import did_you_mean

    try:
        period = period_seconds(since, "--since") if since else None
    except ConfigError as error:
        raise click.BadParameter(str(error).split(": ", 1)[1], param_hint="--since") from None
    services = build_services(env_file)
    start = services.queue.clock() - period if period else None
    known = declared(services.settings, services.systems)
    found = figures(services.engine, start, scenario, known)
    if scenario and not found:
        hint = did_you_mean(scenario, list(known))
        raise click.BadParameter(f"no scenario {scenario!r} has runs or is in the file{hint}",
                                 param_hint="--scenario")  # fmt: skip
    if as_json:
        click.echo(json.dumps({"since": start, "scenarios": [r.as_dict() for r in found]},
                              ensure_ascii=False, indent=2))  # fmt: skip
        return
    click.echo(render(found, start))


command = cascades
