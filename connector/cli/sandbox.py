"""`connector sandbox`: every emulator on loopback ports, with URLs, credentials and an env file.

The emulators are their own distribution (`sandbox/`, import package `connector_sandbox`), not
part of the runtime: this module imports them only when a command runs, and says how to install
them when they are missing.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from types import ModuleType
from typing import Any

import click

DEFAULT_PORT_BASE = 8700
INSTALL_HINT = "pip install -e ./sandbox (make demo does it)"


def sandbox_runner() -> ModuleType:
    """`connector_sandbox.runner`, imported now; without it, one line and exit code 2."""
    try:
        return importlib.import_module("connector_sandbox.runner")
    except ImportError as error:
        click.echo(f"error: the sandbox is not installed ({error}): {INSTALL_HINT}", err=True)
        sys.exit(2)


def _ports(port_base: int, overrides: tuple[str, ...]) -> dict[str, int]:
    emulators: tuple[str, ...] = sandbox_runner().EMULATORS
    ports = {
        name: (port_base + offset if port_base else 0) for offset, name in enumerate(emulators, 1)
    }
    for item in overrides:
        name, _, port = item.partition("=")
        if name not in emulators or not port.isdigit():
            raise click.BadParameter(f"expected NAME=PORT with NAME in {', '.join(emulators)}")
        ports[name] = int(port)
    return ports


def _describe(sandbox: Any) -> list[str]:
    lines = []
    api = sandbox.api_urls
    for name, url in sandbox.urls.items():
        lines.append(f"{name:<12} {api[name]}")
        lines.append(f"{'':<12} control: {url}/_sandbox/state, /_sandbox/reset, /_sandbox/faults")
        for key, value in sandbox.credentials().get(name, {}).items():
            lines.append(f"{'':<12} {key}: {value}")
    return lines


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port-base",
    type=int,
    default=DEFAULT_PORT_BASE,
    show_default=True,
    help="Emulators listen on PORT_BASE+1, +2, ... in the order this command lists them; "
    "0 picks free ports.",
)
@click.option(
    "--port", "ports", multiple=True, metavar="NAME=PORT", help="Port of one emulator (repeatable)."
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the CONNECTOR_* settings that point `connector run` at the sandbox here.",
)
def command(host: str, port_base: int, ports: tuple[str, ...], env_file: str | None) -> None:
    """Start local emulators of Bitrix24, Mailchimp, WooCommerce, CDEK, Nova Poshta and Open
    Loyalty (installed from ./sandbox); run until Ctrl-C or SIGTERM."""
    runner = sandbox_runner()
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    sandbox = runner.Sandbox(ports=_ports(port_base, ports), host=host)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox.start()
        for line in _describe(sandbox):
            click.echo(line)
        if env_file:
            sandbox.write_env_file(env_file)
            click.echo(f"settings written to {env_file}: connector run --env-file {env_file}")
        click.echo("sandbox ready; Ctrl-C to stop", err=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("sandbox stopped", err=True)
