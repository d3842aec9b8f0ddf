"""`connector demo`: the story `make demo` plays (grows with the sandbox and the flows)."""

from __future__ import annotations

import click

from connector.cli._common import build_services, env_file_option


@click.command()
@env_file_option
def demo(env_file: str | None) -> None:
    """Run a probe task through the queue on the embedded default store and show the status."""
    from connector.cli.status import collect_status
    from connector.worker import Worker

    services = build_services(env_file)
    task_id = services.queue.enqueue("diagnostic.probe", {"name": "demo"})
    Worker(services).run_until_idle()
    state = services.queue.get(task_id)["state"]
    click.echo(f"probe task {task_id}: {state}")
    report = collect_status(services)
    click.echo(f"queue: {report['queue']}")
    if state != "done":
        raise SystemExit(1)


command = demo
