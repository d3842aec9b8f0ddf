"""The worker, in process and as real `connector worker` processes killed and run side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connector.audit import writes
from connector.services import Services
from connector.worker import Worker
from tests.conftest import empty_postgres, worker_database
from tests.support import make_settings, wait_for


def probe_runs(services: Services, name: str) -> list[dict]:
    return writes(services.engine, entity="probe", external_id=name)


def start_worker_process(settings_db: str, *extra_env: tuple[str, str]) -> subprocess.Popen:
    env = {**os.environ, "CONNECTOR_DATABASE_URL": settings_db, "CONNECTOR_LOG_LEVEL": "warning"}
    env.update(dict(extra_env))
    connector = Path(sys.executable).with_name("connector")
    return subprocess.Popen(
        [str(connector), "worker", "--threads", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_or_explain(predicate, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """`wait_for`, but a timeout shows what the worker process printed."""
    try:
        wait_for(predicate, timeout)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate(timeout=10)[1].decode()[-2000:]) from None


def test_worker_runs_tasks_records_failures_and_dead_letters_unknown_kinds(services):
    queue = services.queue
    ok = queue.enqueue("diagnostic.probe", {"name": "ok"})
    flaky = queue.enqueue("diagnostic.probe", {"name": "flaky", "fail_runs": 1})
    unknown = queue.enqueue("no.such.kind", {})
    worker = Worker(services, threads=2)
    worker.run_until_idle()
    time.sleep(0.06)  # the flaky task's backoff (settings fixture: at most 0.05 s)
    worker.run_until_idle()
    assert queue.get(ok)["state"] == "done"
    assert queue.get(flaky)["state"] == "done" and len(probe_runs(services, "flaky")) == 2
    assert queue.get(unknown)["state"] == "dead"
    assert "unknown task kind" in queue.errors(unknown)[0]["message"]


def test_threaded_worker_drains_the_queue_and_stops_when_asked(services):
    for i in range(40):
        services.queue.enqueue("diagnostic.probe", {"name": f"t{i}"}, ordering_key=f"k{i % 5}")
    worker = Worker(services, threads=4, poll_seconds=0.01)
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: services.queue.stats(count_done=True).done == 40)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(writes(services.engine, entity="probe")) == 40


def test_worker_killed_mid_task_leads_to_exactly_one_more_run(tmp_path):
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    services = Services(make_settings(tmp_path / "x", database_url=db))
    task_id = services.queue.enqueue("diagnostic.probe", {"name": "crash", "sleep": 3})
    lease = ("CONNECTOR_QUEUE_LEASE_SECONDS", "1")
    victim = start_worker_process(db, lease)
    try:
        wait_for_or_explain(lambda: len(probe_runs(services, "crash")) == 1, victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert services.queue.get(task_id)["state"] == "running"
    finally:
        victim.kill()
    survivor = start_worker_process(db, ("CONNECTOR_QUEUE_LEASE_SECONDS", "30"))
    try:
        wait_for(lambda: services.queue.get(task_id)["state"] == "done", timeout=60)
        time.sleep(0.5)
    finally:
        survivor.terminate()
        survivor.wait(timeout=20)
    runs = probe_runs(services, "crash")
    assert [r["detail"]["attempt"] for r in runs] == [1, 2]


def test_a_long_task_outlives_its_lease_and_a_killed_workers_tasks_return_after_one(tmp_path):
    """With a 3 s lease, a task of 8 s is not taken over by a second worker while its own worker
    lives: the heartbeat renews its lease and those of the tasks claimed ahead. Killed with
    SIGKILL, the worker's running and prefetched tasks go to the survivor once one lease has
    run out, instead of after the old default of 120 s."""
    db = f"sqlite:///{tmp_path / 'heartbeat.db'}"
    services = Services(make_settings(tmp_path / "x", database_url=db))
    queue, lease = services.queue, ("CONNECTOR_QUEUE_LEASE_SECONDS", "3")
    long_task = queue.enqueue("diagnostic.probe", {"name": "long", "sleep": 8})
    stuck = [
        queue.enqueue("diagnostic.probe", {"name": f"stuck{i}", "sleep": 60}) for i in range(5)
    ]
    victim = start_worker_process(db, lease)  # 4 threads: 4 tasks run, 2 wait in its hands
    survivor = None
    try:
        wait_for_or_explain(lambda: queue.stats().running == 6, victim)
        victim_name = queue.get(long_task)["locked_by"]
        survivor = start_worker_process(db, lease)
        wait_for_or_explain(lambda: queue.get(long_task)["state"] == "done", victim)
        assert [r["detail"]["attempt"] for r in probe_runs(services, "long")] == [1]
        assert all(queue.get(i)["locked_by"] == victim_name for i in stuck)

        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        wait_for_or_explain(lambda: all(queue.get(i)["attempts"] == 2 for i in stuck), survivor)
        assert all(queue.get(i)["locked_by"] != victim_name for i in stuck)
    finally:
        for process in (victim, survivor):
            if process is not None:
                process.kill()
                process.wait(timeout=10)


def test_sigterm_lets_the_running_task_finish(tmp_path):
    db = f"sqlite:///{tmp_path / 'term.db'}"
    services = Services(make_settings(tmp_path / "x", database_url=db))
    task_id = services.queue.enqueue("diagnostic.probe", {"name": "slow", "sleep": 1.5})
    process = start_worker_process(db)
    wait_for(lambda: len(probe_runs(services, "slow")) == 1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert services.queue.get(task_id)["state"] == "done"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_worker_processes_never_run_one_task_twice(tmp_path, store):
    db = f"sqlite:///{tmp_path / 'pair.db'}"
    if store == "postgresql":
        db = os.environ.get("TEST_POSTGRES_URL", "")
        if not db:
            pytest.skip("set TEST_POSTGRES_URL to run the PostgreSQL variant")
        db = worker_database(db)
        empty_postgres(db)
    services = Services(make_settings(tmp_path / "x", database_url=db))
    total = 300
    for i in range(total):
        services.queue.enqueue(
            "diagnostic.probe", {"name": f"p{i}"}, ordering_key=f"order:{i % 7}" if i % 2 else None
        )
    workers = [start_worker_process(db) for _ in range(2)]
    try:
        wait_for(lambda: services.queue.stats(count_done=True).done == total, timeout=60)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=20)
    runs = writes(services.engine, entity="probe")
    names = [r["external_id"] for r in runs]
    assert len(names) == total and len(set(names)) == total
    assert {r["detail"]["attempt"] for r in runs} == {1}
    services.close()


def test_worker_survives_a_store_outage_and_records_what_finished_meanwhile(services):
    from sqlalchemy.exc import OperationalError

    task_id = services.queue.enqueue("diagnostic.probe", {"name": "outage"})
    worker = Worker(services, threads=1, poll_seconds=0.01)
    real_complete = services.queue._complete  # what claims and complete_many record with
    failures = {"left": 3}

    def flaky_complete(connection, finished, name):
        if finished and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE tasks", {}, Exception("database is locked"))
        return real_complete(connection, finished, name)

    services.queue._complete = flaky_complete
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: services.queue.get(task_id)["state"] == "done", timeout=30)
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert failures["left"] == 0 and not thread.is_alive()
    assert len(probe_runs(services, "outage")) == 1  # finished once, recorded after the outage


def test_a_task_running_for_many_leases_keeps_its_lease_and_so_does_the_one_prefetched(
    any_store_services,
):
    """The worker's heartbeat renews the lease of what it holds, the running task and the one
    claimed ahead for its thread; told with the queue's clock, so no test waits out a lease."""
    from connector.queue import Queue, RetryPolicy

    services, now = any_store_services, [1_000_000.0]
    queue = Queue(services.engine, RetryPolicy(lease_seconds=30), clock=lambda: now[0])
    services.__dict__["queue"] = queue
    let_go, runs = threading.Event(), []

    def hold(ctx, payload):
        runs.append(ctx.task.id)
        let_go.wait(timeout=60)

    services.registry.register("test.hold", hold)
    first, second = queue.enqueue("test.hold", {}), queue.enqueue("test.hold", {})
    worker = Worker(services, threads=1, poll_seconds=0.01, heartbeat_seconds=0.01)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: runs == [first] and queue.get(second)["state"] == "running")
        for _ in range(10):  # 200 s of the queue's clock: more than six leases
            now[0] += 20
            wait_for(lambda: queue.get(first)["lease_until"] == now[0] + 30)
            wait_for(lambda: queue.get(second)["lease_until"] == now[0] + 30)
            assert queue.claim("another worker", limit=2) == []
        let_go.set()
        wait_for(lambda: queue.get(second)["state"] == "done")
    finally:
        let_go.set()
        worker.stop()
        thread.join(timeout=30)
    assert runs == [first, second] and queue.get(first)["state"] == "done"


def test_a_task_claimed_ahead_that_another_worker_took_over_is_not_run_here_too(
    any_store_services,
):
    """A worker that went a whole lease without a beat (say the store was away) finds at its
    next beat that another worker has claimed its tasks: it gives up the one not started yet
    rather than run it a second time, and its late completion of the other is ignored."""
    from connector.queue import Queue, RetryPolicy

    services, now = any_store_services, [1_000_000.0]
    queue = Queue(services.engine, RetryPolicy(lease_seconds=30), clock=lambda: now[0])
    services.__dict__["queue"] = queue
    let_go, runs = threading.Event(), []

    def hold(ctx, payload):
        runs.append(ctx.task.id)
        let_go.wait(timeout=60)

    services.registry.register("test.hold", hold)
    first, second = queue.enqueue("test.hold", {}), queue.enqueue("test.hold", {})
    worker = Worker(services, threads=1, poll_seconds=0.01, heartbeat_seconds=3600)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: runs == [first] and queue.get(second)["state"] == "running")
        now[0] += 31
        assert [t.id for t in queue.claim("another worker", limit=2)] == [first, second]
        worker._renew_leases()  # the beat that comes too late
        let_go.set()
        wait_for(lambda: not worker._held)
    finally:
        let_go.set()
        worker.stop()
        thread.join(timeout=30)
    assert runs == [first]
    assert all(queue.get(i)["locked_by"] == "another worker" for i in (first, second))
    assert all(queue.get(i)["state"] == "running" for i in (first, second))
