"""The `connector` command: thin; each module in this package adds one command or group."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import click

from connector.errors import ConnectorError


class ConnectorGroup(click.Group):
    """Turns our typed errors into one line and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConnectorError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=ConnectorGroup)
@click.version_option(package_name="omnichannel-connector")
def main() -> None:
    """Omnichannel sync middleware: shop, Bitrix24, Mailchimp, loyalty and carriers."""


def _register_commands() -> None:
    """Adds `command` from every module of this package, so a new command is one new file."""
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for attr in ("command", "commands"):
            found = getattr(module, attr, None)
            for cmd in found if isinstance(found, list | tuple) else [found]:
                if isinstance(cmd, click.Command):
                    main.add_command(cmd)


_register_commands()
