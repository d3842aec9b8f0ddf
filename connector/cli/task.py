"""`connector task`: enqueue a task by hand (admins, scripts, diagnostics)."""

from __future__ import annotations

import json

import click

from connector.cli._common import build_services, env_file_option
from connector.errors import ConnectorError, UnknownTaskKind


@click.group()
def task() -> None:
    """Tasks by hand."""


@task.command()
@env_file_option
@click.argument("kind")
@click.option("--payload", default="{}", help="JSON object handed to the task.")
@click.option("--dedupe-key", default=None)
@click.option("--ordering-key", default=None)
def enqueue(
    env_file: str | None, kind: str, payload: str, dedupe_key: str | None, ordering_key: str | None
) -> None:
    """Enqueue one task of KIND."""
    services = build_services(env_file)
    if kind not in services.registry:
        known = ", ".join(services.registry.kinds())
        raise UnknownTaskKind(kind) from ConnectorError(known)
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as error:
        raise ConnectorError(f"--payload: not JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(body, dict):
        raise ConnectorError("--payload: must be a JSON object")
    task_id = services.queue.enqueue(kind, body, dedupe_key=dedupe_key, ordering_key=ordering_key)
    click.echo(f"enqueued task {task_id}" if task_id else "already enqueued (dedupe key used)")


@task.command("kinds")
def list_kinds() -> None:
    """List every task kind the worker runs."""
    from connector.tasks import build_registry

    for kind in build_registry().kinds():
        click.echo(kind)


command = task
