"""`connector catalogue`: the canonical catalogue, its master and its copies (docs/catalogue.md)."""

from __future__ import annotations

import json
import sys

import click

from connector.catalogue.rules import copy_names
from connector.cli._common import build_services, env_file_option


@click.group()
def catalogue() -> None:
    """The catalogue: one master of products, prices and stock, and its copies."""


@catalogue.command()
@env_file_option
@click.option(
    "--copy",
    "copy",
    type=click.Choice(copy_names()),
    default=None,
    help="Only this copy (every copy that is on by default).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per difference.")
@click.option("--fix", is_flag=True, help="Also queue the pushes that correct them.")
def diff(env_file: str | None, copy: str | None, as_json: bool, fix: bool) -> None:
    """List every product whose price or stock differs between the master and a copy.

    Exit code 1 when there is any difference. With --fix, queues forced pushes of those
    products (the worker sends them); run diff again afterwards to see them gone.
    """
    from connector.catalogue import diff as catalogue_diff

    services = build_services(env_file)
    found = []
    for difference in catalogue_diff.differences(services, copy):
        found.append(difference)
        click.echo(json.dumps(difference.as_dict(), default=str) if as_json else str(difference))
    if not as_json:
        click.echo(f"{len(found)} difference(s)")
    if fix and found:
        queued = catalogue_diff.fix(services, found)
        click.echo(f"queued {queued} push task(s) to correct them", err=as_json)
    sys.exit(1 if found else 0)


@catalogue.command(name="import")
@env_file_option
@click.argument("path", required=False)
def import_(env_file: str | None, path: str | None) -> None:
    """Read the CSV / POS export that is the master (catalogue.yaml `file:`, or PATH)."""
    from connector.catalogue.intake import read_file

    services = build_services(env_file)
    changed, deleted, problems = read_file(services, path)
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(
        f"{changed} product(s) changed, {deleted} marked deleted, {len(problems)} bad row(s)"
    )
    sys.exit(1 if problems else 0)


@catalogue.command()
@env_file_option
def status(env_file: str | None) -> None:
    """How many products the catalogue holds, and its master and copies."""
    from connector.catalogue import count
    from connector.catalogue.copies import copies_on
    from connector.catalogue.rules import rules_for

    services = build_services(env_file)
    rules = rules_for(services.settings)
    click.echo(f"master: {rules.master}; products: {count(services.engine)}")
    click.echo(f"copies on: {', '.join(copies_on(services, rules)) or 'none'}")


command = catalogue
