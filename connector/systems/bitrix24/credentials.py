"""Bitrix24 credentials kept in the store's `credentials` table (row `system="bitrix24"`).

The OAuth tokens rotate on every refresh and the `application_token` that authenticates
incoming events arrives once (ONAPPINSTALL or the outgoing-webhook form): both must outlive
the process, so they live in the store, behind the small `TokenStore` protocol.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, select

from connector.config import Settings

SYSTEM = "bitrix24"


class TableTokenStore:
    """A `TokenStore` on the store's `credentials` table; one row per system."""

    def __init__(self, engine: Engine, system: str = SYSTEM) -> None:
        self.engine = engine
        self.system = system

    def load(self) -> dict[str, Any] | None:
        from connector.store.tables import credentials

        with self.engine.connect() as connection:
            row = connection.execute(
                select(credentials.c.data).where(credentials.c.system == self.system)
            ).first()
        return dict(row[0]) if row and row[0] else None

    def save(self, tokens: dict[str, Any]) -> None:
        from connector.store.tables import credentials

        values = {"data": dict(tokens), "updated_at": time.time()}
        with self.engine.begin() as connection:
            updated = connection.execute(
                credentials.update().where(credentials.c.system == self.system).values(**values)
            )
            if not updated.rowcount:
                connection.execute(credentials.insert().values(system=self.system, **values))


def store_token_store(settings: Settings, system: str = SYSTEM) -> TableTokenStore:
    """The token store of the configured database (migrated on first use)."""
    from connector.store import open_store

    return TableTokenStore(open_store(settings), system)
