"""`connector status`: the queue, dead letters and cursors at a glance (or as JSON)."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from connector.cli._common import build_services, env_file_option
from connector.services import Services
from connector.store import reading
from connector.store.tables import cursors, links, tasks
from connector.sync.webhook_health import HEALTH_STREAM
from connector.systems.registry import resolve


def collect_status(services: Services) -> dict[str, Any]:
    stats = services.queue.stats(count_done=True)
    settings = services.settings
    with reading(services.engine) as connection:
        by_kind = connection.execute(
            select(tasks.c.kind, tasks.c.state, func.count()).group_by(tasks.c.kind, tasks.c.state)
        ).all()
        cursor_rows = connection.execute(select(cursors)).mappings().all()
        link_counts = connection.execute(
            select(links.c.entity, links.c.system, func.count()).group_by(
                links.c.entity, links.c.system
            )
        ).all()
    return {
        "database": settings.database_url.split("@")[-1],
        "queue": {
            "queued": stats.queued,
            "running": stats.running,
            "done": stats.done,
            "dead": stats.dead,
            "oldest_queued_age_seconds": stats.oldest_queued_age,
        },
        "tasks_by_kind": [{"kind": k, "state": s, "count": c} for k, s, c in by_kind],
        "cursors": [
            {
                "system": r["system"],
                "stream": r["stream"],
                "value": r["value"],
                "updated_at": r["updated_at"],
            }
            for r in cursor_rows
            if r["stream"] != HEALTH_STREAM  # shown under "webhooks"
        ],
        "links": [{"entity": e, "system": s, "count": c} for e, s, c in link_counts],
        "mappings": _mappings_status(services),
        "webhooks": _webhooks_status(services),
        # every system the registry knows (connector/systems/registry.py): configured or not
        "systems": {system.name: system.is_configured(settings) for system in services.systems},
        "system_lines": {system.name: system.status_line(services) for system in services.systems},
    }


def _webhooks_status(services: Services) -> dict[str, Any]:
    """The last check of each configured system's webhooks at the system (its declared
    `webhook_check`; None until one ran)."""
    return {
        system.name: resolve(system.webhook_check)(services.engine)
        for system in services.systems
        if system.webhook_check is not None and system.is_configured(services.settings)
    }


def _webhooks_line(system: str, check: dict[str, Any] | None) -> str:
    if check is None:
        return f"webhooks: {system} not checked yet"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(check["checked_at"]))
    line = f"webhooks: {system} checked {when} UTC ({check['reason']})"
    if check.get("ours") is not None:
        found = check.get("found") or 0
        line += f": {check['ours']} of ours, {found} found disabled"
    if check.get("error"):
        line += f"; error: {check['error']}"
    if check.get("reenabled_at"):
        again = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(check["reenabled_at"]))
        line += f"; last re-enabled {', '.join(check['reenabled'])} at {again} UTC"
    if check.get("reachable") is False:
        line += "; our public URL does not answer /healthz"
    return line


def _mappings_status(services: Services) -> dict[str, Any]:
    """The mapping files on disk: ok, degraded (invalid: the last good set runs) or unusable."""
    mappings = services.mappings
    mappings.reload_if_changed()
    return {"directory": str(services.mappings_path), **mappings.health()}


def _mappings_line(report: dict[str, Any]) -> str:
    saved = f"last good set saved {report['saved_at']}" if report["saved_at"] else ""
    if report["status"] == "ok":
        return f"mappings: ok ({report['directory']}; {saved or 'not saved'})"
    count = len(report["problems"])
    problems = f"{count} problem{'s' if count != 1 else ''} in {report['directory']}"
    if report["status"] == "degraded":
        return f"mappings: DEGRADED: {problems}; running on the {saved}"
    return f"mappings: UNUSABLE: {problems} and no good set saved; tasks wait for a fix"


@click.command()
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(env_file: str | None, as_json: bool) -> None:
    """Show queue depth, dead letters, links and sync cursors."""
    report = collect_status(build_services(env_file))
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    console = Console()
    queue = report["queue"]
    age = queue["oldest_queued_age_seconds"]
    console.print(f"store: {report['database']}")
    console.print(
        f"queue: {queue['queued']} queued, {queue['running']} running, "
        f"{queue['done']} done, {queue['dead']} dead letters"
        + (f", oldest waiting {age:.0f}s" if age is not None else "")
    )
    systems = ", ".join(f"{name} {line}" for name, line in report["system_lines"].items())
    console.print(f"systems: {systems}")
    console.print(_mappings_line(report["mappings"]), markup=False, highlight=False)
    if report["mappings"]["problems"]:
        from rich.text import Text  # plain: a problem may hold [brackets]

        table = Table("problem (file:line: field: message)", title="mapping problems")
        for problem in report["mappings"]["problems"]:
            table.add_row(Text(problem))
        console.print(table)
    for system, check in report["webhooks"].items():
        console.print(_webhooks_line(system, check), markup=False, highlight=False, soft_wrap=True)
    if report["tasks_by_kind"]:
        table = Table("kind", "state", "count", title="tasks")
        for row in report["tasks_by_kind"]:
            table.add_row(row["kind"], row["state"], str(row["count"]))
        console.print(table)
    if report["cursors"]:
        table = Table("system", "stream", "cursor", "updated", title="cursors")
        for row in report["cursors"]:
            updated = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["updated_at"]))
            table.add_row(row["system"], row["stream"], row["value"], updated)
        console.print(table)


command = status
