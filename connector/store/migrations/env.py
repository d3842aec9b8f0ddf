"""Alembic environment: runs migrations on the connection the connector hands over."""

from typing import Any

from alembic import context

from connector.store.tables import MIGRATION_ONLY_INDEXES, metadata


def declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate leaves alone the indexes a migration makes with raw SQL (see tables.py)."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    include_object=declared,
)
with context.begin_transaction():
    context.run_migrations()
