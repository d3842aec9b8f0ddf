"""Cursors: where each incremental read stopped, saved in the same transaction as its tasks.

One row of `cursors` per (system, stream) holds a small JSON bookmark. Singer's rule applies
(singer-io/getting-started docs/CONFIG_AND_STATE.md, "Things to keep in mind"): state saved
before the data is safe loses records, state saved late only repeats them; so a bookmark is
written only through a connection whose transaction also enqueued the page's tasks.
Full syncs keep their checkpoint under the stream `full:<stream>`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.errors import ConnectorError
from connector.store import reading
from connector.store.tables import cursors

MAX_LENGTH = 200  # cursors.value is VARCHAR(200)


def full_stream(stream: str) -> str:
    """The cursor stream that holds a full sync's checkpoint."""
    return f"full:{stream}"


def load_cursor(connection: Connection, system: str, stream: str) -> dict[str, Any] | None:
    """The bookmark of (system, stream), or None when nothing was read yet."""
    value = connection.scalar(
        select(cursors.c.value).where(cursors.c.system == system, cursors.c.stream == stream)
    )
    if value is None:
        return None
    try:
        loaded = json.loads(value)
    except ValueError:
        return {"value": value}  # a bookmark written by hand or by an older version
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def read_cursor(engine: Engine, system: str, stream: str) -> dict[str, Any] | None:
    """`load_cursor` on a read-only connection of its own."""
    with reading(engine) as connection:
        return load_cursor(connection, system, stream)


def save_cursor(connection: Connection, system: str, stream: str, bookmark: dict[str, Any]) -> None:
    """Writes the bookmark inside the caller's transaction (the one that enqueued the page)."""
    value = json.dumps(bookmark, separators=(",", ":"), sort_keys=True)
    if len(value) > MAX_LENGTH:
        raise ConnectorError(f"cursor {system}/{stream} too long ({len(value)} > {MAX_LENGTH})")
    row = {"system": system, "stream": stream, "value": value, "updated_at": time.time()}
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        connection.execute(
            insert(cursors)
            .values(row)
            .on_conflict_do_update(
                index_elements=["system", "stream"],
                set_={"value": row["value"], "updated_at": row["updated_at"]},
            )
        )
        return
    changed = connection.execute(
        update(cursors)
        .where(cursors.c.system == system, cursors.c.stream == stream)
        .values(value=row["value"], updated_at=row["updated_at"])
    ).rowcount
    if not changed:
        connection.execute(cursors.insert().values(row))


def drop_cursor(connection: Connection, system: str, stream: str) -> bool:
    """Forgets a bookmark (`sync --full --restart`); True when there was one."""
    result = connection.execute(
        delete(cursors).where(cursors.c.system == system, cursors.c.stream == stream)
    )
    return result.rowcount > 0
