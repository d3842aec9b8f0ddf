"""`connector config`: the settings in force (secrets hidden), or the README table."""

from __future__ import annotations

import click

from connector.cli._common import env_file_option


@click.command("config")
@env_file_option
@click.option("--markdown", is_flag=True, help="Print the table of every variable for the README.")
@click.option("--example", is_flag=True, help="Print a commented .env with every default.")
def config_command(env_file: str | None, markdown: bool, example: bool) -> None:
    """Show the effective settings."""
    import os

    from connector.config import all_settings, env_example, load_settings, settings_markdown

    if markdown or example:
        click.echo(settings_markdown() if markdown else env_example(), nl=markdown)
        return
    settings = load_settings(env_file=env_file or os.environ.get("CONNECTOR_ENV_FILE", ".env"))
    for setting in all_settings():
        value = settings.value(setting.name)
        shown = "***" if setting.secret and value else value
        click.echo(f"{setting.env}={'' if shown is None else shown}")


command = config_command
