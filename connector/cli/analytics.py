"""`connector analytics`: a customer's figures and why their segment, segment sizes with a bar
chart, the CSV export for marketing, and the nightly recompute or a rebuild run by hand."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from connector.cli._common import build_services, env_file_option

if TYPE_CHECKING:
    from connector.services import Services

BAR_WIDTH = 40


def _day(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d")


def find_customer(services: Services, phone: str | None, email: str | None,
                  customer: str | None) -> str | None:  # fmt: skip
    """The canonical id a support question means: by id, e-mail, or phone as typed or E.164."""
    from connector.identity import customer_keys, find_customer_by_keys
    from connector.loyalty.lookup import phone_normaliser

    if customer:
        return customer
    found = find_customer_by_keys(services.engine, customer_keys(email=email, phone=phone))
    if found is None and phone:
        try:
            e164 = phone_normaliser(services.settings.mappings_dir or "mappings")(phone)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--phone") from None
        found = find_customer_by_keys(services.engine, [("phone", e164)])
    return found


@click.group()
def analytics() -> None:
    """Customer figures: RFM scores, segments, lifetime value (mappings/analytics.yaml)."""


@analytics.command()
@click.option("--phone", help="Phone, E.164 (+380671234567) or as the customer typed it.")
@click.option("--email", help="E-mail address.")
@click.option("--customer", help="The connector's canonical customer id.")
@env_file_option
def show(phone: str | None, email: str | None, customer: str | None, env_file: str | None) -> None:
    """One customer's figures and why they are in their segment."""
    from connector.analytics.figures import explain, public
    from connector.analytics.keeper import figures_of, transitions_of
    from connector.analytics.rules import rules_for

    if not any((phone, email, customer)):
        raise click.UsageError("give one of --phone, --email or --customer")
    services = build_services(env_file)
    cid = find_customer(services, phone, email, customer)
    row = figures_of(services.engine, cid) if cid else None
    if cid is None or row is None:
        click.echo("no figures for this customer (no order known yet?)", err=True)
        sys.exit(1)
    rules = rules_for(services.settings)
    shown = public(row)
    console = Console()
    table = Table(title=f"customer {cid}", show_header=False)
    for name in ("segment", "segment_since", "rfm", "orders_count", "revenue", "average_check",
                 "first_order_at", "last_order_at", "mean_days_between", "favourite_channel",
                 "favourite_category", "p_alive", "expected_orders"):  # fmt: skip
        value = shown.get(name)
        table.add_row(name.replace("_", " "), "-" if value is None else str(value))
    console.print(table)
    click.echo("why:")
    for line in explain(row, rules, services.queue.clock()):
        click.echo(f"  {line}")
    history = transitions_of(services.engine, cid)
    if history:
        click.echo("segment history:")
        for item in history:
            was = item["from_segment"] or "-"
            click.echo(
                f"  {_day(item['at'])}  {was} -> {item['to_segment'] or '-'} ({item['cause']})"
            )


@analytics.command()
@env_file_option
def segments(env_file: str | None) -> None:
    """Segment sizes and revenue, with a bar chart."""
    from connector.analytics.keeper import segment_sizes

    services = build_services(env_file)
    rows = segment_sizes(services.engine)
    if not rows:
        click.echo("no segments yet: run `connector analytics recompute`")
        return
    click.echo(render_segments(rows))


def render_segments(rows: list[tuple[str, int, int]]) -> str:
    """The segments table as text: name, customers, share, revenue and a bar per segment."""
    total = sum(n for _, n, _ in rows) or 1
    most = max(n for _, n, _ in rows) or 1
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'segment':<{width}}  {'customers':>9}  {'share':>6}  {'revenue':>14}  "]
    for name, count, revenue in rows:
        bar = "█" * max(1, round(BAR_WIDTH * count / most))
        lines.append(
            f"{name:<{width}}  {count:>9}  {100 * count / total:>5.1f}%  "
            f"{revenue / 100:>14,.2f}  {bar}"
        )
    lines.append(f"{'total':<{width}}  {total:>9}")
    return "\n".join(lines)


@analytics.command()
@click.option("--csv", "path", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the figures (one row per customer).")  # fmt: skip
@env_file_option
def export(path: str, env_file: str | None) -> None:
    """Every customer's figures as CSV, with e-mail and phone, for the marketing team."""
    from connector.analytics.export import write_csv

    services = build_services(env_file)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        count = write_csv(services.engine, csv.writer(handle))
    click.echo(f"{count} customers written to {path}")


@analytics.command()
@click.option("--rebuild", is_flag=True,
              help="First re-read every order the hub holds (after an upgrade or a rules "
                   "change of what counts).")  # fmt: skip
@env_file_option
def recompute(rebuild: bool, env_file: str | None) -> None:
    """Runs the nightly recompute now."""
    from connector.analytics.keeper import rebuild_orders, recompute_all

    services = build_services(env_file)
    if rebuild:
        click.echo(f"{rebuild_orders(services)} orders read from the hub")
    report = recompute_all(services)
    click.echo(
        f"{report.customers} customers, {report.changed} changed, {report.transitions} "
        f"segment transitions, {report.pushes} push tasks, {report.seconds:.1f}s"
    )
    if report.model is not None:
        m = report.model
        click.echo(f"BG/NBD: r={m.r:.3f} alpha={m.alpha:.3f} a={m.a:.3f} b={m.b:.3f}")
    else:
        click.echo("BG/NBD: too few repeat customers for a prediction")


command = analytics
