"""The store: one SQLAlchemy engine (SQLite in WAL mode, or PostgreSQL), migrated at start."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from connector.config import Settings, sqlite_path
from connector.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: threads still take turns
    fcntl = None  # type: ignore[assignment]

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
        # A connection for every thread that may use the store at once (the worker's, the web
        # server's, and a few of the services' own), opened as they are first needed. With
        # fewer, threads queue for connections: at 64 worker threads SQLAlchemy's default of
        # 15 cost an eighth of the flow's throughput (bench/flow.py) in hand-offs.
        threads = settings.worker_threads + settings.http_threads + 8
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=threads,
            max_overflow=threads,
        )
        _tune_sqlite(engine, settings.sqlite_synchronous, path.with_name(path.name + ".lock"))
        return engine
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise ConfigError(f"CONNECTOR_DATABASE_URL: {error}") from None


def _tune_sqlite(engine: Engine, synchronous: str, lock_path: Path) -> None:
    write_turn = WriteTurn(lock_path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # SQLAlchemy's "begin" event issues the BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Straight on the DBAPI connection: SQLAlchemy's own execution path costs more than
        # the BEGIN itself, on every transaction.
        dbapi_connection = connection.connection.driver_connection
        if connection.get_execution_options().get("read_only"):
            dbapi_connection.execute("BEGIN")
            return
        # IMMEDIATE takes the write lock up front, so a transaction that reads and then
        # writes can never fail on lock upgrade. A caller that must not wait long (the shared
        # rate bucket) says how long it may, with the `write_turn_timeout` option.
        write_turn.acquire(connection.get_execution_options().get("write_turn_timeout"))
        connection.info["write_turn"] = True
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(connection)
            raise

    def _end_turn(connection):
        if connection.info.pop("write_turn", False):
            write_turn.release()

    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)


_FORKED_RESET = threading.Lock()


class WriteTurn:
    """Writers to one SQLite file take turns: threads of a process on a lock, processes on an
    advisory lock of a file beside the database.

    SQLite's own busy handler makes a waiting writer sleep in steps of up to 100 ms; here the
    next writer wakes as soon as the turn is free, so several processes (web workers, queue
    workers) share the store without stalls. Where `fcntl` is missing only threads take turns.
    """

    def __init__(self, lock_path: Path, timeout: float = 30.0) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = os.getpid()
        self._owner: int | None = None  # the thread holding the turn

    def acquire(self, timeout: float | None = None) -> None:
        """Waits for the turn (`timeout` seconds at most, else the turn's own time-out). With
        a `timeout`, a thread that already holds the turn is refused at once: its second
        transaction would wait for its own first one."""
        if self._pid != os.getpid():  # a forked child keeps nothing of its parent's turn
            with _FORKED_RESET:
                if self._pid != os.getpid():
                    self._threads, self._depth, self._fd = threading.RLock(), 0, None
                    self._owner = None
                    self._pid = os.getpid()
        if timeout is not None and self._owner == threading.get_ident():
            raise self._locked("held by this thread")
        if not self._threads.acquire(timeout=-1 if timeout is None else timeout):
            raise self._locked("another thread holds it")
        if self._depth == 0 and fcntl is not None:
            try:
                self._lock_file(self.timeout if timeout is None else timeout)
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        self._owner = threading.get_ident()

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            if fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def _lock_file(self, timeout: float) -> None:
        if self._fd is None:  # a forked child must not share its parent's open file
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise self._locked("another process holds it") from None
                time.sleep(0.0005)

    def _locked(self, why: str) -> OperationalError:
        """What SQLite itself raises when its busy timeout runs out."""
        return OperationalError(
            "BEGIN IMMEDIATE",
            None,
            sqlite3.OperationalError(f"database is locked ({self.lock_path}: {why})"),
        )


def take_turns(connection: Connection, names: Iterable[str]) -> None:
    """Holds, until the transaction ends, a PostgreSQL advisory lock per name (taken sorted, so
    two calls wanting the same names never deadlock).

    Under READ COMMITTED two transactions can both find no owner of a key and each make a new
    customer, or enqueue a task as waiting behind one that is finishing and so never promoted;
    with the lock the second one waits and then sees the first one's commit. SQLite needs
    nothing: its write transactions already run one at a time.
    """
    if connection.dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
        )


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

# How long a starting process waits for another one that is migrating the store.
MIGRATION_WAIT_SECONDS = 300.0
# The name of the PostgreSQL advisory lock migrations take turns on (keyed as `take_turns` keys
# its names, so it meets none of them).
_MIGRATION_LOCK = "connector:migrations"

log = logging.getLogger("connector.store")


def upgrade(engine: Engine, wait_seconds: float = MIGRATION_WAIT_SECONDS) -> str:
    """Applies every pending migration; returns the revision the store is at.

    Processes started together on a new store (several workers and servers, on several
    machines) take turns: one migrates while holding the migration lock (an advisory lock on
    PostgreSQL, a lock file beside the database on SQLite); the others wait for it, up to
    `wait_seconds`, and then find the store at head. A store already at head takes no lock.
    """
    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head() or "base"
    try:
        with _MIGRATING:
            with reading(engine) as connection:
                if _revision(connection) == head:
                    return head
            with _migration_turn(engine, wait_seconds), engine.begin() as connection:
                if engine.dialect.name == "postgresql":
                    _take_postgres_migration_lock(connection, wait_seconds)
                if _revision(connection) != head:  # again: the last holder may have done it
                    config.attributes["connection"] = connection
                    alembic_command.upgrade(config, "head")
                return _revision(connection)
    except OperationalError as error:
        raise ConfigError(
            f"CONNECTOR_DATABASE_URL: database unreachable or unwritable: {error.orig}"
        ) from None


def _revision(connection: Connection) -> str:
    return MigrationContext.configure(connection).get_current_revision() or "base"


def _wait_for_migration(try_lock: Callable[[], bool], wait_seconds: float, where: str) -> None:
    """Calls `try_lock` until it succeeds; a clear ConfigError once `wait_seconds` are over."""
    if try_lock():
        return
    log.info("another process is migrating the store; waiting for it (%s)", where)
    deadline, pause = time.monotonic() + wait_seconds, 0.01
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
        if try_lock():
            return
    raise ConfigError(
        f"CONNECTOR_DATABASE_URL: another process has been migrating the store for more than "
        f"{wait_seconds:g}s ({where}); start again once it is done, or stop it if it hangs"
    )


@contextmanager
def _migration_turn(engine: Engine, wait_seconds: float) -> Iterator[None]:
    """On a SQLite file: holds `<database>.migrate.lock` (other stores: nothing to hold here).

    Separate from the write turn, so a process waiting for a long migration waits for as long
    as it was told rather than SQLite's busy time-out, and says why it waits."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or fcntl is None:
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:

        def try_lock() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        _wait_for_migration(try_lock, wait_seconds, f"lock file {lock_path}")
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def _take_postgres_migration_lock(connection: Connection, wait_seconds: float) -> None:
    """Holds the migration advisory lock until the migrating transaction ends (a process that
    dies while migrating lets go of it with its connection)."""
    statement = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))")

    def try_lock() -> bool:
        return bool(connection.scalar(statement, {"name": _MIGRATION_LOCK}))

    _wait_for_migration(try_lock, wait_seconds, f"advisory lock {_MIGRATION_LOCK!r}")


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
