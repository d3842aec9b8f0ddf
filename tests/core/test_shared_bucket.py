"""A portal's request bucket kept in the store: every process that talks to the portal draws
its slots from one bucket, as the portal counts them (connector/store/buckets.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading

import pytest
from sqlalchemy import create_engine

from connector.store import create_store_engine
from connector.store.buckets import StoredBucket
from connector.systems.bitrix24.client import Bitrix24Client, bucket_name
from connector.systems.bitrix24.limiter import Plan
from tests.support import make_settings


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def two_processes_buckets(services, settings, clock, *, rate=2.0, burst=3):
    """The same bucket as two processes hold it: each with its own engine on the one store."""
    first = StoredBucket(services.engine, "bitrix24:shop", rate, burst, clock=clock)
    other_engine = create_store_engine(settings)
    second = StoredBucket(other_engine, "bitrix24:shop", rate, burst, clock=clock)
    return first, second, other_engine


def test_two_processes_share_one_burst_and_one_drain(any_store_services, settings):
    clock = Clock()
    first, second, other_engine = two_processes_buckets(any_store_services, settings, clock)
    try:
        waits = [first.reserve(), second.reserve(), first.reserve(), second.reserve()]
        # a burst of 3 for both together: the fourth slot waits one drain step (1 / 2 per s)
        assert waits == pytest.approx([0.0, 0.0, 0.0, 0.5])
        clock.now += 10  # idle: the bucket drains for both
        assert second.reserve() == 0.0
        assert first.level() == pytest.approx(1.0)
    finally:
        other_engine.dispose()


def test_a_refusal_seen_by_one_process_makes_the_other_back_off(any_store_services, settings):
    clock = Clock()
    first, second, other_engine = two_processes_buckets(any_store_services, settings, clock)
    try:
        assert first.refused(2.0) == pytest.approx(2.0)
        assert second.reserve() == pytest.approx(2.5)
    finally:
        other_engine.dispose()


def test_buckets_of_two_portals_do_not_mix(any_store_services):
    clock = Clock()
    shop = StoredBucket(any_store_services.engine, "bitrix24:a", 2.0, 1, clock=clock)
    other = StoredBucket(any_store_services.engine, "bitrix24:b", 2.0, 1, clock=clock)
    assert [shop.reserve(), other.reserve(), shop.reserve()] == pytest.approx([0.0, 0.0, 0.5])


PROCESS = textwrap.dedent(
    """
    import sys
    from connector.config import load_settings
    from connector.store import create_store_engine
    from connector.store.buckets import StoredBucket

    settings = load_settings(env={"CONNECTOR_DATABASE_URL": sys.argv[1]}, env_file=None)
    bucket = StoredBucket(create_store_engine(settings), "bitrix24:shop", 0.001, 50)
    for _ in range(int(sys.argv[2])):
        bucket.reserve()
    """
)


def test_slots_reserved_by_four_processes_at_once_are_all_counted(any_store_services, store_url):
    """Four real processes reserve 25 slots each at the same time; none of the 100 is lost to a
    race (the bucket barely drains: 0.001 per second)."""
    engine = any_store_services.engine  # the store, migrated
    processes = [
        subprocess.Popen([sys.executable, "-c", PROCESS, store_url, "25"]) for _ in range(4)
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    bucket = StoredBucket(engine, "bitrix24:shop", 0.001, 50)
    assert bucket.level() == pytest.approx(100.0, abs=0.5)


def test_a_store_that_does_not_answer_leaves_the_process_limited_alone(tmp_path, caplog):
    """No `rate_buckets` table (a store that fails): the bucket still limits, in memory, and
    says so once."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    clock = Clock()
    bucket = StoredBucket(engine, "bitrix24:shop", 2.0, 2, clock=clock)
    with caplog.at_level(logging.WARNING, logger="connector.store"):
        waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.0, 0.5])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "limits itself alone" in warnings[0]
    engine.dispose()


def test_the_services_client_keeps_its_bucket_in_the_store_named_by_host_not_secret(tmp_path):
    url = "https://shop.bitrix24.de/rest/1/s3cr3tw3bh00k/"
    settings = make_settings(
        tmp_path, bitrix24_webhook_url=url, bitrix24_rate=5, bitrix24_burst=250
    )
    engine = create_store_engine(settings)
    try:
        client = Bitrix24Client.from_settings(settings, engine=engine)
        assert isinstance(client.bucket, StoredBucket)
        assert client.bucket.name == bucket_name(settings) == "bitrix24:shop.bitrix24.de"
        assert (client.bucket.rate, client.bucket.burst) == (5.0, Plan(5.0, 250).our_burst)
        # without a store, one process keeps it in memory, as before
        assert not isinstance(Bitrix24Client.from_settings(settings).bucket, StoredBucket)
    finally:
        engine.dispose()


def test_a_call_made_inside_a_write_transaction_reserves_without_waiting_for_itself(services):
    """SQLite: the asking thread already holds the write turn (a Bitrix24 call inside a store
    transaction). Waiting for the turn would wait for itself; the slot is reserved in memory."""
    bucket = StoredBucket(services.engine, "bitrix24:shop", 2.0, 2)
    waits: list[float] = []

    def inside_a_transaction() -> None:
        with services.engine.begin():
            waits.extend(bucket.reserve() for _ in range(3))

    thread = threading.Thread(target=inside_a_transaction, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the reservation waited for its own transaction"
    assert waits == pytest.approx([0.0, 0.0, 0.5], abs=0.05)


def test_a_sender_whose_caller_holds_the_write_turn_is_not_held_up_for_long(services):
    """SQLite: a dispatcher's sender reserves while the task waiting for it holds the write
    turn. The sender gives up on the store after `TURN_WAIT` and reserves in memory, so the
    task gets its answer instead of both waiting forever."""
    bucket = StoredBucket(services.engine, "bitrix24:shop", 2.0, 2)
    answered = threading.Event()
    sender = threading.Thread(target=lambda: (bucket.reserve(), answered.set()), daemon=True)
    with services.engine.begin():
        sender.start()
        assert answered.wait(timeout=20), "the sender waited for the task holding the turn"
    bucket.reserve()  # the store answers again: shared once more
    assert bucket.level() == pytest.approx(1.0, abs=0.1)
