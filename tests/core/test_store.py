"""The store's turns: threads and processes take turns writing one SQLite file, and processes
started together take turns migrating a new store."""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from connector.config import sqlite_path
from connector.errors import ConfigError
from connector.store import WriteTurn, create_store_engine, pending_migrations, upgrade
from tests.conftest import STORES
from tests.support import make_settings, wait_for


def test_a_turn_held_by_another_process_times_out_with_database_is_locked(tmp_path):
    lock_path = tmp_path / "store.db.lock"
    held = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another process holding the write turn would
    turn = WriteTurn(lock_path, timeout=0.2)
    with pytest.raises(OperationalError, match="database is locked"):
        turn.acquire()
    fcntl.flock(held, fcntl.LOCK_UN)
    turn.acquire()  # free again: taken at once
    turn.release()
    os.close(held)


def _try_turn(answer: multiprocessing.Queue) -> None:
    try:
        _INHERITED.acquire()  # the parent's turn object, inherited through fork
        answer.put("acquired")
    except OperationalError:
        answer.put("locked")


_INHERITED: WriteTurn | None = None


def test_a_forked_child_does_not_share_its_parents_turn(tmp_path):
    """A child inherits the parent's open lock file; sharing it would share the lock."""
    global _INHERITED
    _INHERITED = WriteTurn(tmp_path / "store.db.lock", timeout=0.3)
    _INHERITED.acquire()
    try:
        answer: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(target=_try_turn, args=(answer,))
        child.start()
        child.join(timeout=20)
        assert answer.get(timeout=5) == "locked"
    finally:
        _INHERITED.release()


def test_threads_of_one_process_take_turns(tmp_path):
    turn = WriteTurn(tmp_path / "store.db.lock")
    inside, most = 0, 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(200):
            turn.acquire()
            with guard:
                inside += 1
                most = max(most, inside)
            with guard:
                inside -= 1
            turn.release()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def start_connector(command: str, database_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": database_url,
        "CONNECTOR_ENV_FILE": "/nonexistent",
        "CONNECTOR_LOG_LEVEL": "info",
    }
    connector = Path(sys.executable).with_name("connector")
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(connector), *command.split()], env=env, stdout=output, stderr=output
        )


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_eight_processes_started_together_on_a_new_store_all_come_up(store_url, tmp_path):
    """Workers and `db upgrade` started at once on a fresh store take turns on the migration:
    one applies it, the others wait and find the schema at head; none dies of the race."""
    commands = ["worker --threads 1"] * 6 + ["db upgrade"] * 2
    logs = [tmp_path / f"process-{n}.log" for n in range(len(commands))]
    processes = [start_connector(c, store_url, log) for c, log in zip(commands, logs, strict=True)]
    workers = [p for p, c in zip(processes, commands, strict=True) if c.startswith("worker")]
    try:
        wait_for(
            lambda: all(
                p.poll() is not None or "started with 1 threads" in log.read_text()
                for p, log in zip(processes, logs, strict=True)
            )
        )
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in processes]
    outputs = [log.read_text() for log in logs]
    assert not [text for text in outputs if "Traceback" in text or "error:" in text]
    assert codes == [0] * len(commands)
    assert all("store at revision" in text for text in outputs[-2:])


@contextlib.contextmanager
def migration_held_elsewhere(database_url: str) -> Iterator[None]:
    """The migration lock, held as another process migrating the store would hold it."""
    path = sqlite_path(database_url)
    if path is not None:
        held = os.open(path.with_name(path.name + ".migrate.lock"), os.O_RDWR | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            os.close(held)
        return
    engine = create_engine(database_url)
    with engine.connect() as connection:
        lock = "hashtextextended('connector:migrations', 0)"
        connection.execute(text(f"SELECT pg_advisory_lock({lock})"))
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock({lock})"))
    engine.dispose()


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_a_process_waits_for_a_migration_in_progress_and_says_so_when_it_lasts_too_long(
    store_url, tmp_path
):
    engine = create_store_engine(make_settings(tmp_path, database_url=store_url))
    too_long = "another process has been migrating the store for more than 0.3s"
    with migration_held_elsewhere(store_url), pytest.raises(ConfigError, match=too_long):
        upgrade(engine, wait_seconds=0.3)
    assert pending_migrations(engine)  # the waiter migrated nothing while it waited

    with ThreadPoolExecutor(1) as pool:
        with migration_held_elsewhere(store_url):
            waiter = pool.submit(upgrade, engine, 60)
            time.sleep(0.3)
            assert not waiter.done()  # it waits for the holder ...
        head = waiter.result(timeout=60)  # ... and migrates once the holder is done
    assert pending_migrations(engine) == [] and head != "base"

    with migration_held_elsewhere(store_url):  # a store at head needs no turn
        assert upgrade(engine, wait_seconds=0.3) == head
    engine.dispose()


def test_a_plain_sql_write_on_a_connection_not_yet_begun_is_kept_by_its_commit(
    any_store_services,
):
    """`connector/store/raw.py` begins a transaction as SQLAlchemy's own statements do: a link
    saved on a fresh connection and then committed is there, on SQLite and PostgreSQL."""
    from connector.identity import link_of, save_link

    engine = any_store_services.engine
    with engine.connect() as connection:
        save_link(connection, "order", "woocommerce-7", "bitrix24", "42", data={"seen": "yes"})
        assert connection.in_transaction()
        connection.commit()
    found = link_of(engine, "order", "woocommerce-7", "bitrix24")
    assert found is not None and found.external_id == "42" and found.data == {"seen": "yes"}


def test_a_sqlite_store_has_a_connection_ready_for_every_thread_that_may_use_it(tmp_path):
    settings = make_settings(tmp_path, worker_threads=40, http_threads=8)
    engine = create_store_engine(settings)
    try:
        held = [engine.connect() for _ in range(40 + 8)]  # no thread queues for a connection
        assert engine.pool.checkedout() == 48
        assert engine.pool.overflow() <= 0  # all of them the pool's own, none beyond it
        for connection in held:
            connection.close()
    finally:
        engine.dispose()
