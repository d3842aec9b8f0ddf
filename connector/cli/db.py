"""`connector db upgrade`: apply the store's migrations (they also run at every start)."""

from __future__ import annotations

import click

from connector.cli._common import env_file_option


@click.group()
def db() -> None:
    """The store's schema."""


@db.command()
@env_file_option
def upgrade(env_file: str | None) -> None:
    """Apply pending migrations."""
    import os

    from connector.config import load_settings
    from connector.store import create_store_engine
    from connector.store import upgrade as apply_migrations

    settings = load_settings(env_file=env_file or os.environ.get("CONNECTOR_ENV_FILE", ".env"))
    revision = apply_migrations(create_store_engine(settings))
    click.echo(f"store at revision {revision}")


command = db
