"""`connector demo` (what `make demo` runs): a shopper's story against the sandbox (./sandbox)."""

from __future__ import annotations

import sys

import click


@click.command()
def demo() -> None:
    """Play a shopper's story across shop, Bitrix24 and Mailchimp and check the invariants."""
    from connector.cli.sandbox import sandbox_runner
    from connector.demo import run_demo
    from connector.logs import configure_logging

    sandbox_runner()  # installed? (one line and exit 2 if not)
    configure_logging("error")
    problems = run_demo(click.echo)
    sys.exit(1 if problems else 0)


command = demo
