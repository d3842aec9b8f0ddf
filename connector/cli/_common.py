"""What every command shares: settings and services built once, logging set up, signals caught."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import click

from connector.config import load_settings
from connector.logs import configure_logging
from connector.services import Services


def build_services(env_file: str | None = None) -> Services:
    """Settings from the environment (and `.env`), logging configured, the store migrated."""
    import os

    settings = load_settings(env_file=env_file or os.environ.get("CONNECTOR_ENV_FILE", ".env"))
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    services = Services(settings)
    _ = services.engine  # open and migrate now, so a bad database fails with one clear line
    return services


def on_stop_signal(stop: Callable[[], None]) -> threading.Event:
    """Calls `stop` on SIGTERM or SIGINT; returns an event set at the same time."""
    stopped = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stopped.set()
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stopped


def reload_mappings_on_sighup(services: Services) -> None:
    """SIGHUP makes the process re-read the mapping files (an invalid edit is refused)."""
    signal.signal(signal.SIGHUP, lambda _signum, _frame: services.mappings.reload())


env_file_option = click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read settings from this file instead of ./.env.",
)
