"""The store: one SQLAlchemy engine (SQLite in WAL mode, or PostgreSQL), migrated at start."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from connector.config import Settings, sqlite_path
from connector.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def create_store_engine(settings: Settings) -> Engine:
    """An engine for `settings.database_url`; SQLite gets WAL, a busy timeout and its folder."""
    url = settings.database_url
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"CONNECTOR_DATABASE_URL: cannot create {path.parent}: {error.strerror}"
            ) from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _tune_sqlite(engine, settings.sqlite_synchronous)
        return engine
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise ConfigError(f"CONNECTOR_DATABASE_URL: {error}") from None


def _tune_sqlite(engine: Engine, synchronous: str) -> None:
    # Writers of one process take turns on a lock instead of sleeping in SQLite's busy handler
    # (which backs off in steps of up to 100 ms); other processes still wait on busy_timeout.
    write_turn = threading.RLock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # SQLAlchemy's "begin" event issues the BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front, so a transaction that reads and then
        # writes can never fail on lock upgrade.
        write_turn.acquire()
        connection.info["write_turn"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(connection)
            raise

    def _end_turn(connection):  # type: ignore[no-untyped-def]
        if connection.info.pop("write_turn", False):
            write_turn.release()

    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it takes no write lock, so it never holds up
    the writers (`engine.begin()` and plain `engine.connect()` begin IMMEDIATE)."""
    return engine.connect().execution_options(read_only=True)


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# Alembic's `context` is one proxy for the whole process: two threads migrating at once (two
# engines on one new store) would run each other's migrations. They take turns.
_MIGRATING = threading.Lock()


def upgrade(engine: Engine) -> str:
    """Applies every pending migration; returns the revision the store is at."""
    config = _alembic_config()
    try:
        with _MIGRATING, engine.begin() as connection:
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, "head")
            return MigrationContext.configure(connection).get_current_revision() or "base"
    except OperationalError as error:
        raise ConfigError(
            f"CONNECTOR_DATABASE_URL: database unreachable or unwritable: {error.orig}"
        ) from None


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied (for `status` and health)."""
    script = ScriptDirectory.from_config(_alembic_config())
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return [rev.revision for rev in script.iterate_revisions("head", current)]


def open_store(settings: Settings) -> Engine:
    """The engine, migrated to head: what every command that touches the store starts with."""
    engine = create_store_engine(settings)
    upgrade(engine)
    return engine


def ping(engine: Engine) -> bool:
    try:
        with reading(engine) as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
