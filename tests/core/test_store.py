"""The SQLite write turn: threads and processes take turns writing one file."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading

import pytest
from sqlalchemy.exc import OperationalError

from connector.store import WriteTurn


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
