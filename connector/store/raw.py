"""Plain SQL on the DBAPI cursor of the caller's transaction, for the webhook intake hot path.

SQLAlchemy costs about 0.1 ms of Python per statement (execution context, parameter processing,
result wrapping). At a thousand webhooks a second in one process that is most of the budget, so
the few statements run for every delivery skip it. They are written once, in the SQL that SQLite
and PostgreSQL share; everything else in the connector goes through SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from connector.store import reading


class RawSQL:
    """One statement with `?` placeholders, rewritten to the driver's style on first use."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._by_style: dict[str, str] = {}

    def text(self, connection: Connection) -> str:
        style = connection.dialect.paramstyle
        if style not in self._by_style:
            self._by_style[style] = self.sql if style == "qmark" else self.sql.replace("?", "%s")
        return self._by_style[style]


def as_json(value: Any) -> str:
    """A JSON column's value as SQLAlchemy's JSON type stores it, so both read it back alike."""
    return json.dumps(value)


def from_json(value: Any) -> Any:
    """A JSON column's value as a raw cursor returns it: text on SQLite, already decoded by
    psycopg on PostgreSQL."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def insert_each(
    connection: Connection, statement: RawSQL, rows: Iterable[Sequence[Any]]
) -> list[Any]:
    """Runs an `INSERT ... ON CONFLICT DO NOTHING RETURNING <column>` once per row: the
    returned value of each row inserted, None for each row skipped."""
    sql, returned = statement.text(connection), []
    with _cursor(connection, sql) as raw:
        params = [tuple(row) for row in rows]
        if params and connection.dialect.name == "postgresql":
            # psycopg pipelines the rows: one round trip to the server, one result per row.
            raw.executemany(sql, params, returning=True)
            more = True
            while more:
                first = raw.fetchone()
                returned.append(None if first is None else first[0])
                more = raw.nextset()
            return returned
        for row in params:
            raw.execute(sql, row)
            first = raw.fetchone()
            returned.append(None if first is None else first[0])
    return returned


def _text(connection: Connection, sql: str | RawSQL) -> str:
    """A statement with `?` placeholders, in the driver's style."""
    return (sql if isinstance(sql, RawSQL) else RawSQL(sql)).text(connection)


def select_column(connection: Connection, sql: str | RawSQL, params: Sequence[Any]) -> list[Any]:
    """The first column of every row `sql` (with `?` placeholders) selects."""
    text = _text(connection, sql)
    with _cursor(connection, text) as raw:
        raw.execute(text, tuple(params))
        return [row[0] for row in raw.fetchall()]


def select_rows(
    connection: Connection, sql: str | RawSQL, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Every row `sql` (with `?` placeholders) selects, as tuples."""
    text = _text(connection, sql)
    with _cursor(connection, text) as raw:
        raw.execute(text, tuple(params))
        return [tuple(row) for row in raw.fetchall()]


def run_returning(
    connection: Connection, sql: str | RawSQL, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Runs one statement (with `?` placeholders); the rows it returns, if any."""
    text = _text(connection, sql)
    with _cursor(connection, text) as raw:
        raw.execute(text, tuple(params))
        if raw.description is None:
            return []
        return [tuple(row) for row in raw.fetchall()]


@contextlib.contextmanager
def _cursor(connection: Connection, sql: str) -> Iterator[Any]:
    """A DBAPI cursor inside `connection`'s transaction, closed after use. A connection with no
    transaction yet begins one, as SQLAlchemy's own statements do (autobegin: the store's
    write turn and `BEGIN IMMEDIATE` on SQLite, a transaction the caller commits everywhere).
    Driver errors become SQLAlchemy's (`OperationalError`, `IntegrityError`...), as on every
    other statement, so callers handle one family of errors."""
    if not connection.in_transaction():
        connection.begin()
    driver_error = connection.dialect.loaded_dbapi.Error
    raw = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield raw
    except driver_error as error:
        raise DBAPIError.instance(sql, None, error, driver_error) from error
    finally:
        raw.close()


def in_list(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


def read_rows(
    target: Engine | Connection, sql: str | RawSQL, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """`select_rows` in the caller's transaction, or, given the engine, in a read-only
    transaction of its own (`connector.store.reading`)."""
    if isinstance(target, Connection):
        return select_rows(target, sql, params)
    with reading(target) as connection:
        return select_rows(connection, sql, params)


@functools.cache
def insert_into(table: str, columns: tuple[str, ...]) -> RawSQL:
    """`INSERT INTO table (columns) VALUES (?, ...)`, built once per table and columns."""
    return RawSQL(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({in_list(len(columns))})")


@functools.cache
def update_where(table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> RawSQL:
    """`UPDATE table SET column = ?, ... WHERE key = ? AND ...`: the columns' values, then the
    keys', as its parameters. Built once per table, columns and keys."""
    assigned = ", ".join(f"{name} = ?" for name in columns)
    where = " AND ".join(f"{name} = ?" for name in keys)
    return RawSQL(f"UPDATE {table} SET {assigned} WHERE {where}")
