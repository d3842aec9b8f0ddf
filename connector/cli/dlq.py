"""`connector dlq`: look at dead letters, replay them or discard them."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.table import Table

from connector.cli._common import build_services, env_file_option
from connector.errors import ConnectorError


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp)) if timestamp else "-"


@click.group()
def dlq() -> None:
    """Dead letters: tasks that failed for good."""


@dlq.command("list")
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_dead(env_file: str | None, as_json: bool) -> None:
    """List dead letters."""
    rows = build_services(env_file).queue.dead_letters(limit=1000)
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    table = Table("id", "kind", "attempts", "died", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            str(row["attempts"]),
            _when(row["finished_at"]),
            (row["last_error"] or "")[:80],
        )
    Console().print(table if rows else "no dead letters")


@dlq.command()
@env_file_option
@click.argument("task_id", type=int)
def show(env_file: str | None, task_id: int) -> None:
    """Show one dead letter: payload and every attempt's error."""
    queue = build_services(env_file).queue
    task = queue.get(task_id)
    if task is None:
        raise ConnectorError(f"no task with id {task_id}")
    click.echo(
        f"task {task['id']} {task['kind']} state={task['state']} attempts={task['attempts']}"
    )
    click.echo(
        f"ordering key: {task['ordering_key'] or '-'}  dedupe key: {task['dedupe_key'] or '-'}"
    )
    click.echo("payload: " + json.dumps(task["payload"], ensure_ascii=False, indent=2))
    for error in queue.errors(task_id):
        click.echo(
            f"attempt {error['attempt']} at {_when(error['failed_at'])}: "
            f"{error['error_type']}: {error['message']}"
        )


@dlq.command()
@env_file_option
@click.argument("task_id", type=int, required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
def replay(env_file: str | None, task_id: int | None, replay_all: bool) -> None:
    """Send a dead letter (or --all) back to the queue."""
    if (task_id is None) == (not replay_all):
        raise click.UsageError("give a task id or --all")
    count = build_services(env_file).queue.replay(None if replay_all else task_id)
    if task_id is not None and count == 0:
        raise ConnectorError(f"no dead letter with id {task_id}")
    click.echo(f"replayed {count} task(s)")


@dlq.command()
@env_file_option
@click.argument("task_id", type=int)
def discard(env_file: str | None, task_id: int) -> None:
    """Give up on a dead letter for good (it stays visible in the trail)."""
    if not build_services(env_file).queue.discard(task_id):
        raise ConnectorError(f"no dead letter with id {task_id}")
    click.echo(f"discarded task {task_id}")


command = dlq
