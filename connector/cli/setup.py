"""`connector setup SYSTEM`: registers the connector with a system (fields, webhooks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from connector.cli._common import env_file_option
from connector.config import load_settings


class SystemWithSetup(click.ParamType):
    """A system whose declaration has a `setup` step (connector/systems/registry.py); the
    choices are read from the registry when the command runs, so a plug-in's system counts."""

    name = "system"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from connector.systems.registry import Registry

        known = Registry.discover().with_setup()
        if value not in known:
            self.fail(f"{value!r} is not one of {', '.join(known)}", param, ctx)
        return str(value)

    def get_metavar(self, param: Any, ctx: Any = None) -> str:
        return "SYSTEM"


@click.command("setup")
@click.argument("system", type=SystemWithSetup())
@click.option(
    "--sandbox/--no-sandbox",
    default=None,
    help="Bitrix24 inbound webhook: register the outgoing webhook through the sandbox's "
    "control API (default: when the portal is on loopback).",
)
@click.option("--store-name", default="Shop", show_default=True, help="Mailchimp store name.")
@click.option("--currency", default="USD", show_default=True, help="Mailchimp store currency.")
@env_file_option
def command(
    system: str, sandbox: bool | None, store_name: str, currency: str, env_file: str | None
) -> None:
    """Check access to SYSTEM and register the connector's fields and webhooks with it."""
    import os

    settings = load_settings(env_file=env_file or os.environ.get("CONNECTOR_ENV_FILE", ".env"))
    from connector.systems.registry import Registry, resolve

    runner = resolve(Registry.discover().get(system).setup)
    lines = runner(settings, sandbox=sandbox, store_name=store_name, currency=currency)
    lines.append(phone_region_line(settings.mappings_path, system))
    for line in lines:
        click.echo(line)
    click.echo(f"{system}: setup done")


def phone_region_line(folder: Path, system: str) -> str:
    """Which region numbers written without `+` are read in, for this system's mapping files."""
    from connector.mapping import MappingSet
    from connector.mapping.phones import DEFAULT_REGION, configured_region

    found, errors = MappingSet.check(folder)
    if found is None:
        region = configured_region(folder)
        return f"phone region: {region} ({folder}/defaults.yaml; mapping files have errors)"
    regions, from_record = set(), False
    for mapping in found.mappings():
        if mapping.system != system:
            continue
        for rule in mapping.rules:
            for step in rule.transforms:
                if step.name == "phone":
                    given = step.params.get("region") or mapping.options.get("phone_region")
                    regions.add(str(given or DEFAULT_REGION).upper())
                    from_record = from_record or step.params.get("country_from") is not None
    region = ", ".join(sorted(regions)) or configured_region(folder)
    where = "the record's own country when it has one, else " if from_record else ""
    return f"phone region: numbers without + are read in {where}{region} (mappings: {folder})"
