"""WAL checkpoints off the webhook intake's commits.

SQLite copies its write-ahead log back into the database file once the log passes 1,000 pages,
inside whichever commit crossed the mark: that commit stalls 10-16 ms (measured about every 75
webhook groups, the intake's p99). The intake's connection therefore turns the automatic
checkpoint off and a thread here checkpoints in the background instead (PASSIVE: it never
waits for, or blocks, readers and writers). Other connections keep SQLite's default, so the log
is bounded even where no intake runs.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Connection

SQLITE_DEFAULT_AUTOCHECKPOINT = 1000


class Checkpointer:
    """Checkpoints one SQLite file every `every` seconds from its own thread and connection."""

    def __init__(self, path: Path, every: float = 0.5) -> None:
        self.path = path
        self.every = every
        self.completed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.every):
                with contextlib.suppress(sqlite3.Error):  # busy or gone: next round
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.completed += 1
        finally:
            connection.close()


def set_autocheckpoint(connection: Connection, pages: int) -> None:
    """`PRAGMA wal_autocheckpoint` of this one connection (0 turns it off)."""
    driver = connection.connection.driver_connection
    driver.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")  # type: ignore[union-attr]


def autocheckpoint(connection: Connection) -> int:
    driver = connection.connection.driver_connection
    return int(driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0])  # type: ignore[union-attr]
