"""Queue throughput and latency through one `connector worker` process on SQLite.

Phase 1 (throughput): enqueue N no-op tasks in pages, as a polling job does, and time first
enqueue to last completion. Phase 2 (latency): enqueue one task at a time at a steady rate
(500/s, as webhooks arrive, or half the throughput if that is lower) and measure
enqueue-to-done. Ends with
`BENCH queue tasks_per_s=... p50_ms=... p99_ms=...`. Target: 1,000 tasks/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from connector.config import load_settings
from connector.queue import Queue
from connector.store import open_store, reading
from connector.store.tables import tasks


def wait_until_done(engine: Engine, total: int) -> None:
    while True:
        with reading(engine) as connection:
            done = connection.scalar(select(func.count()).where(tasks.c.state == "done"))
        if done >= total:
            return
        time.sleep(0.05)


def finished_rows(engine: Engine, first_id: int) -> list:
    with reading(engine) as connection:
        return connection.execute(
            select(tasks.c.enqueued_at, tasks.c.finished_at).where(tasks.c.id >= first_id)
        ).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--page", type=int, default=50, help="tasks per enqueue_many call")
    parser.add_argument("--latency-tasks", type=int, default=2000)
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=500.0,
        help="tasks/s enqueued one by one in the latency phase (a webhook rate)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    url = f"sqlite:///{folder / 'queue.db'}"
    engine = open_store(load_settings(env={"CONNECTOR_DATABASE_URL": url}, env_file=None))
    queue = Queue(engine)
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": url,
        "CONNECTOR_LOG_LEVEL": "warning",
        "CONNECTOR_WORKER_POLL_SECONDS": "0.005",
    }
    connector = Path(sys.executable).with_name("connector")
    worker = subprocess.Popen([str(connector), "worker", "--threads", str(args.threads)], env=env)
    try:
        time.sleep(1.5)  # let the worker start and migrate
        started = time.time()
        for first in range(0, args.tasks, args.page):
            page = range(first, min(first + args.page, args.tasks))
            queue.enqueue_many(
                "diagnostic.noop", [({"n": i}, None, f"entity:{i % 100}") for i in page]
            )
        wait_until_done(engine, args.tasks)
        rows = finished_rows(engine, 1)
        per_s = args.tasks / (max(r.finished_at for r in rows) - started)

        rate = min(args.latency_rate, per_s / 2)
        interval = 1 / rate
        next_at = time.time()
        first_id = args.tasks + 1
        for i in range(args.latency_tasks):
            next_at += interval
            queue.enqueue("diagnostic.noop", {"n": i}, ordering_key=f"entity:{i % 100}")
            time.sleep(max(0.0, next_at - time.time()))
        wait_until_done(engine, args.tasks + args.latency_tasks)
        latencies = sorted(
            (r.finished_at - r.enqueued_at) * 1000 for r in finished_rows(engine, first_id)
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"throughput: {args.tasks} tasks in pages of {args.page}, one worker process with "
        f"{args.threads} threads: {per_s:.0f} tasks/s"
    )
    print(
        f"latency: {args.latency_tasks} tasks enqueued one by one at {rate:.0f}/s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"BENCH queue tasks_per_s={per_s:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
