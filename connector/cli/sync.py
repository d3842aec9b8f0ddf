"""`connector sync`, `connector import`, `connector trace`: getting data in, and finding it."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.cli._common import build_services, env_file_option
from connector.sync.times import utc

if TYPE_CHECKING:
    from connector.services import Services


@click.command()
@env_file_option
@click.option("--full", is_flag=True, help="Import everything (the initial sync), resumable.")
@click.option("--system", "system", default=None, help="Only this system (woocommerce, bitrix24).")
@click.option("--stream", default=None, help="Only this stream (orders, deals, ...).")
@click.option("--since", default=None, help="With --full: only records changed since DATE.")
@click.option("--restart", is_flag=True, help="Forget the checkpoint and start over.")
@click.option("--wait", is_flag=True, help="Wait for the worker to finish the enqueued tasks.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --wait waits.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sync(
    env_file: str | None,
    full: bool,
    system: str | None,
    stream: str | None,
    since: str | None,
    restart: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Enqueue what changed: a poll now, or with --full the initial import of every record.

    A full sync reads page by page and saves a checkpoint with each page; run it again after an
    interruption and it continues after the last saved page.
    """
    from connector.sync.full import FullSync, UnknownSystem, full_streams, wait_for_outcomes

    moment = utc(since, "--since") if since else None
    if not full and (restart or wait):
        raise UnknownSystem(f"--{'restart' if restart else 'wait'}: only with --full")
    services = build_services(env_file)
    if not full:
        _poll_now(services, system, stream, moment, as_json)
        return
    console = Console(stderr=True)
    runner = FullSync(services, since=moment, restart=restart, keep_ids=wait)
    systems = runner.systems(system)
    if stream is not None:
        known = [n for s in systems for n in full_streams(services)[s]]
        if stream not in known:
            raise UnknownSystem(f"--stream: unknown stream {stream!r} (known: {', '.join(known)})")
        runner.streams = (stream,)
    interrupted = False
    with _progress(console, as_json) as progress:
        bars: dict[str, Any] = {}

        def on_stream(system_name: str, name: str) -> None:
            bars[name] = progress.add_task(f"{system_name}/{name}", total=None)

        def on_page(outcome: Any, page: Any) -> None:
            bar = bars[outcome.stream]
            if page.total is not None or page.last:
                progress.update(bar, total=page.total if page.total is not None else outcome.read)
            progress.update(bar, completed=outcome.read)

        runner.on_stream, runner.on_page = on_stream, on_page
        try:
            for name in systems:
                runner.run(name)
        except KeyboardInterrupt:  # every page enqueued so far is saved with its checkpoint
            interrupted = True
        if wait and not interrupted and any(r.outcome.task_ids for r in runner.reports):
            waiting = progress.add_task(
                "worker", total=sum(len(r.outcome.task_ids) for r in runner.reports)
            )
            wait_for_outcomes(
                services,
                runner.reports,
                timeout,
                on_tick=lambda finished, _left: progress.update(waiting, completed=finished),
            )
    _print_full_summary(runner.reports, wait, as_json)
    if interrupted:
        click.echo("interrupted: run the same command again to continue", err=True)
        sys.exit(130)
    if any(r.status == "failed" for r in runner.reports):
        sys.exit(1)


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def _print_full_summary(reports: list[Any], waited: bool, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports]))
        return
    columns = ["stream", "status", "read", "enqueued", "already queued", "skipped", "failed pages"]
    table = Table(*columns + (["done", "dead", "unfinished"] if waited else []))
    for report in reports:
        out = report.outcome
        row = [
            f"{out.system}/{out.stream}",
            report.status,
            str(out.read),
            str(out.enqueued),
            str(out.deduplicated),
            str(out.skipped),
            str(out.failed_pages),
        ]
        if waited:
            row += [str(report.done), str(report.dead), str(report.unfinished)]
        table.add_row(*row)
    console = _wide_console()
    console.print(table)
    for report in reports:
        if report.outcome.error:
            console.print(
                f"{report.outcome.system}/{report.outcome.stream}: {report.outcome.error} "
                "(run again to continue after the last saved page)",
                markup=False,
            )


def _wide_console() -> Console:
    """A console that does not squeeze tables when the output goes to a file or a pipe."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _poll_now(
    services: Services, system: str | None, stream: str | None, since: Any, as_json: bool
) -> None:
    from connector.sync.full import UnknownSystem
    from connector.sync.polling import poll_once, polled_streams

    if since is not None:
        raise UnknownSystem("--since: only with --full (polling starts from its cursor)")
    streams = polled_streams(services)
    wanted = [
        (s, n)
        for s, n in streams
        if (system is None or s == system) and (stream is None or n == stream)
    ]
    if not wanted:
        known = ", ".join(f"{s}/{n}" for s, n in streams)
        where = "--stream" if system in {s for s, _ in streams} else "--system"
        raise UnknownSystem(
            f"{where}: nothing to poll for {system or '*'}/{stream or '*'} (known: {known})"
        )
    results = []
    for system_name, name in wanted:
        if not services.enabled(system_name):
            continue
        if name == "offline_events" and not services.settings.bitrix24_client_id:
            continue
        outcome = poll_once(services, system_name, name)
        if outcome is not None:
            results.append(outcome.as_dict())
    if as_json:
        click.echo(json.dumps(results))
        return
    for row in results:
        click.echo(
            f"{row['system']}/{row['stream']}: {row['read']} read, {row['enqueued']} enqueued, "
            f"{row['deduplicated']} already queued, {row['skipped']} skipped"
        )
    if not results:
        click.echo("nothing polled: no configured system matches")


@click.command("import")
@env_file_option
@click.argument("entity")
@click.argument("file")
@click.option("--source", default="pos", show_default=True, help="Mapping folder of the file.")
@click.option("--dry-run", is_flag=True, help="Check every row; enqueue nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_file(
    env_file: str | None, entity: str, file: str, source: str, dry_run: bool, as_json: bool
) -> None:
    """Import store sales: `connector import orders FILE.csv --source pos`.

    Each receipt becomes one order through the same flow as web orders; a receipt already
    imported is not imported again. Bad rows are listed as FILE:LINE and column, their receipts
    left out, the rest imported; exit code 1 when any row was bad.
    """
    from connector.sync.pos import ImportFileError, import_orders

    if entity != "orders":
        raise ImportFileError(f"import: cannot import {entity!r} (known: orders)")
    services = build_services(env_file)
    summary = import_orders(
        services.queue, services.mappings.current, file, source=source, dry_run=dry_run
    )
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        for bad in summary.bad_rows:
            click.echo(str(bad), err=True)
        verb = "would import" if dry_run else "imported"
        click.echo(
            f"{file}: {summary.rows} rows, {summary.receipts} receipts: "
            f"{summary.enqueued} {verb}, {summary.already_imported} already imported, "
            f"{summary.rejected_receipts} rejected ({len(summary.bad_rows)} bad rows)"
        )
    if summary.bad_rows:
        sys.exit(1)


@click.command()
@env_file_option
@click.option("--phone", default=None, help="The customer's phone, in any spelling.")
@click.option("--email", default=None, help="The customer's email.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def trace(env_file: str | None, phone: str | None, email: str | None, as_json: bool) -> None:
    """One customer across all systems: ids, orders, consent, events and dead letters."""
    from connector.mapping.phones import DEFAULT_REGION
    from connector.sync.trace import BadQuery, default_region, trace_customer

    if bool(phone) == bool(email):
        raise BadQuery("trace: give exactly one of --phone or --email")
    services = build_services(env_file)
    found = trace_customer(
        services.engine,
        phone=phone,
        email=email,
        region=default_region(services.mappings.current) if phone else DEFAULT_REGION,
    )
    if as_json:
        click.echo(json.dumps(found.as_dict(), default=str))
        return
    _print_trace(found)


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp)) if timestamp else "-"


def _print_trace(found: Any) -> None:
    console = _wide_console()
    what = ", ".join(f"{k} {v}" for k, v in found.query.items())
    if not found.customers:
        console.print(f"no customer with {what}", markup=False)
    for customer in found.customers:
        header = ", ".join(filter(None, [customer["name"], customer["email"], customer["phone"]]))
        console.print(f"customer {customer['id']}: {header or '-'}", markup=False)
        keys = ", ".join(f"{k['kind']} {k['value']}" for k in customer["keys"]) or "-"
        console.print(f"  identity keys: {keys}", markup=False)
        links = ", ".join(f"{link['system']} {link['id']}" for link in customer["links"]) or "-"
        console.print(f"  linked records: {links}", markup=False)
        consent = ", ".join(f"{k} {v}" for k, v in customer["consent"].items()) or "-"
        console.print(f"  consent: {consent}", markup=False)
    if found.orders:
        table = Table("order", "status", "total", "created", "in the systems", title="orders")
        for order in found.orders:
            records = ", ".join(
                f"{r['system']} {r['id']}" + (f" ({r['status']})" if r["status"] else "")
                for r in order["links"]
            )
            total = f"{order['total'] or ''} {order['currency'] or ''}".strip()
            table.add_row(
                order["id"], str(order["status"] or "-"), total or "-",
                str(order["created_at"] or "-"), records or "-",
            )  # fmt: skip
        console.print(table)
    if found.events:
        table = Table("event", "received", "source", "topic", "task", title="last inbound events")
        for event in found.events:
            table.add_row(
                str(event["id"]), _when(event["received_at"]), event["source"],
                str(event["topic"] or "-"), str(event["task_id"] or "-"),
            )  # fmt: skip
        console.print(table)
    if found.dead_letters:
        table = Table("task", "kind", "attempts", "died", "last error", title="dead letters")
        for dead in found.dead_letters:
            table.add_row(
                str(dead["id"]), dead["kind"], str(dead["attempts"]),
                _when(dead["finished_at"]), (dead["last_error"] or "")[:80],
            )  # fmt: skip
        console.print(table)
    elif found.customers:
        console.print("no dead letters about this customer")
    _print_cascades(console, getattr(found, "cascades", []))


def _print_cascades(console: Any, runs: list[dict[str, Any]]) -> None:
    """Cascade runs: each step's send, its status, and why the run stopped."""
    if not runs:
        return
    table = Table("run", "scenario", "state", "started", "steps", "why it ended",
                  title="cascades")  # fmt: skip
    for run in runs:
        steps = "; ".join(
            f"{s['step']} {s['channel']} {s['state']}"
            + (f" ({s['status']})" if s["status"] and s["status"] != s["state"] else "")
            + (f": {s['reason']}" if s["reason"] else "")
            for s in run["sends"]
        )
        why = run["stop_reason"] or ""
        if run["converted_step"]:
            why += f" after step {run['converted_step']} (order {run['converted_ref'] or '-'})"
        table.add_row(
            str(run["id"]), run["scenario"], run["state"], _when(run["started_at"]),
            steps or "-", why.strip() or "-",
        )  # fmt: skip
    console.print(table)


commands = [sync, import_file, trace]
