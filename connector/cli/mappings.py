"""`connector mappings validate|show|try`: the admin's tools for the files in `mappings/`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from connector.errors import ConnectorError
from connector.mapping import MappingSet, format_error
from connector.mapping.trial import dump, map_in
from connector.model import ENTITIES


def _default_dir() -> str:
    """CONNECTOR_MAPPINGS_DIR (default `mappings`); a relative one missing here: the bundled set."""
    from connector.config import load_settings, mappings_folder

    try:
        configured = getattr(load_settings(), "mappings_dir", None)
    except ConnectorError:
        configured = None
    return str(mappings_folder(configured))


def _load(directory: str | None) -> MappingSet:
    found, errors = MappingSet.check(directory or _default_dir())
    if errors or found is None:
        for error in errors:
            click.echo(format_error(error), err=True)
        raise SystemExit(1)
    return found


dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Mappings folder (default: CONNECTOR_MAPPINGS_DIR or ./mappings).",
)


@click.group()
def mappings() -> None:
    """Check, inspect and try the mapping files."""


@mappings.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def validate(directory: str | None) -> None:
    """Report every problem of every mapping file, one per line; exit 1 if there is any."""
    directory = directory or _default_dir()
    found, errors = MappingSet.check(directory)
    if errors or found is None:
        for error in errors:
            click.echo(format_error(error))
        count = len(errors)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {directory}", err=True)
        raise SystemExit(1)
    count = sum(1 for _ in found.mappings())
    maps = sum(1 for _ in found.value_maps())
    click.echo(
        f"ok: {count} mappings, {maps} value maps, {len(found.systems())} systems in {directory}"
    )


@mappings.command()
@click.argument("system")
@click.argument("entity")
@dir_option
def show(system: str, entity: str, directory: str | None) -> None:
    """Print the effective mapping (or value map) of SYSTEM ENTITY as a table."""
    from rich.console import Console
    from rich.table import Table

    loaded = _load(directory)
    console = Console(width=max(Console().width, 140))
    try:
        mapping = loaded.get(system, entity)
    except ConnectorError:
        try:
            table_map = loaded.value_map(system, entity)
        except ConnectorError as error:
            raise click.ClickException(str(error)) from None
        table = Table(title=f"{system} value map {entity} ({table_map.file})")
        for column in ("direction", "canonical", system):
            table.add_column(column)
        for direction, canonical, value in table_map.entries():
            table.add_row(direction, repr(canonical), str(value))
        console.print(table)
        console.print(
            f"unmapped in: {_unmapped(table_map.unmapped_in)}, "
            f"out: {_unmapped(table_map.unmapped_out)}"
        )
        return
    table = Table(title=f"{system}/{mapping.entity} -> {mapping.canonical} ({mapping.file})")
    for column in ("line", "canonical", "dir", system, "transforms", "flags"):
        table.add_column(column, overflow="fold")
    arrows = {"in": "<-", "out": "->", "both": "<->"}
    for rule in mapping.rules:
        flags = [
            name
            for name, on in (
                ("on_create_only", rule.on_create_only),
                ("skip_if_empty", rule.skip_if_empty),
            )
            if on
        ]
        if rule.owner:
            flags.append(f"owner={rule.owner}")
        steps = ", ".join(
            s.name + (f"({_params(s.params)})" if _params(s.params) else "")
            for s in rule.transforms
        )
        table.add_row(
            str(rule.line),
            _text(rule.canonical),
            arrows[rule.direction],
            _text(rule.system),
            steps,
            " ".join(flags),
        )
    console.print(table)
    for custom in mapping.custom_fields:
        console.print(f"custom field {custom.name} ({custom.type}) {custom.label or ''}")


def _unmapped(rule: Any) -> str:
    return f"use {rule.value!r}" if rule.action == "use" else rule.action


def _params(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, False, "keep", "string", "e164")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return "-"
    return " | ".join(value) if isinstance(value, list) else value


@mappings.command(name="try")
@click.argument("system")
@click.argument("entity")
@click.option(
    "--in",
    "in_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A system payload (JSON, or CSV for pos) to map to canonical.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A canonical JSON entity to map to the system.",
)
@click.option(
    "--existing",
    type=click.Path(exists=True, dir_okay=False),
    help="With --out: the system's current record (keeps multifield ids).",
)
@click.option("--create", is_flag=True, help="With --out: map as a create (on_create_only fields).")
@dir_option
def try_(
    system: str,
    entity: str,
    in_file: str | None,
    out_file: str | None,
    existing: str | None,
    create: bool,
    directory: str | None,
) -> None:
    """Apply a mapping to a sample file and print the result; a dry run that writes nothing."""
    if bool(in_file) == bool(out_file):
        raise click.UsageError("give exactly one of --in FILE or --out FILE")
    loaded = _load(directory)
    try:
        mapping = loaded.get(system, entity)
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    if in_file:
        text = Path(in_file).read_text(encoding="utf-8")
        click.echo(dump(map_in(mapping, text, csv=in_file.endswith(".csv"))))
        return
    assert out_file is not None
    canonical = ENTITIES[mapping.canonical].coerce_json(json.loads(Path(out_file).read_text()))
    current = json.loads(Path(existing).read_text()) if existing else None
    result = mapping.to_system(canonical, existing=current, creating=create)
    click.echo(dump(result))


command = mappings

if __name__ == "__main__":  # pragma: no cover
    sys.exit(mappings())
