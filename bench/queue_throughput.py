"""Queue throughput, latency and claim cost, against peers, through one worker process.

Phase 1 (throughput): enqueue N no-op tasks in pages, as a polling job does, while one
`connector worker` process (4 threads) drains them; time first enqueue to last completion. The
same no-op workload then runs, in the same run, on huey (SQLite storage, one consumer process
with 4 threads; huey enqueues one task at a time, it has no batch) and, when a PostgreSQL URL is
given (`--postgres` or TEST_POSTGRES_URL), on the connector's queue there and on procrastinate
(one worker process, concurrency 4, jobs deferred in batches of the same page size).
Phase 2 (latency): enqueue one task at a time at a steady rate (500/s, as webhooks arrive, or
half the throughput if that is lower) and measure enqueue-to-done.
Phase 3 (claims): 1,000,000 future-dated tasks in the table, then claims of 8 among a few
hundred due tasks of three priorities and lanes, and idle claims; p50/p99 of one claim.

Ends with
`BENCH queue tasks_per_s=... p50_ms=... p99_ms=... claim_p99_ms=... future_tasks=...` and one
`BENCH queue_peer store=... connector_per_s=... <peer>_per_s=... ratio=...` line per peer.
Targets: 3,000 tasks/s on SQLite on a 2-core machine; claims p99 < 10 ms with 1,000,000
future-dated tasks. Peers need `pip install -r bench/requirements.txt`; a missing one is
skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select

from connector.config import load_settings
from connector.queue import BULK, LIVE, POLL, Queue
from connector.store import open_store, reading
from connector.store.tables import tasks

HUEY_APP = textwrap.dedent(
    """
    import os
    from huey import SqliteHuey

    huey = SqliteHuey(filename=os.environ["BENCH_HUEY_DB"])

    @huey.task()
    def noop(n):
        return True
    """
)
PROCRASTINATE_APP = textwrap.dedent(
    """
    import os
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_PG_CONNINFO"])
    )

    @app.task(name="noop")
    async def noop(n):
        return None
    """
)


def wait_for(count: Callable[[], int], total: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while count() < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {count()} of {total} done")
        time.sleep(0.02)


def done_count(engine: Engine) -> int:
    with reading(engine) as connection:
        return int(connection.scalar(select(func.count()).where(tasks.c.state == "done")) or 0)


def finished_rows(engine: Engine, first_id: int) -> list:
    with reading(engine) as connection:
        return connection.execute(
            select(tasks.c.enqueued_at, tasks.c.finished_at).where(tasks.c.id >= first_id)
        ).all()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux): what a task costs on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_connector_worker(url: str, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": url,
        "CONNECTOR_LOG_LEVEL": "warning",
        "CONNECTOR_WORKER_POLL_SECONDS": "0.005",
    }
    command = "from connector.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", command, "worker", "--threads", str(threads)], env=env
    )


def connector_throughput(
    url: str, count: int, threads: int, page: int, latency: tuple[int, float] | None = None
) -> tuple[float, list[float], float]:
    """Tasks/s through one worker process, enqueue-to-done latencies (ms) if asked, and the
    worker's CPU milliseconds per task."""
    engine = open_store(load_settings(env={"CONNECTOR_DATABASE_URL": url}, env_file=None))
    queue = Queue(engine)
    worker = start_connector_worker(url, threads)
    latencies: list[float] = []
    try:
        time.sleep(1.5)  # let the worker start
        cpu_before = cpu_seconds(worker.pid)
        started = time.time()
        for first in range(0, count, page):
            numbers = range(first, min(first + page, count))
            queue.enqueue_many(
                "diagnostic.noop", [({"n": i}, None, f"entity:{i % 100}") for i in numbers]
            )
        wait_for(lambda: done_count(engine), count)
        per_s = count / (max(r.finished_at for r in finished_rows(engine, 1)) - started)
        cpu_ms = (cpu_seconds(worker.pid) - cpu_before) * 1000 / count
        if latency is not None:
            how_many, wanted_rate = latency
            rate = min(wanted_rate, per_s / 2)
            next_at = time.time()
            for i in range(how_many):
                next_at += 1 / rate
                queue.enqueue("diagnostic.noop", {"n": i}, ordering_key=f"entity:{i % 100}")
                time.sleep(max(0.0, next_at - time.time()))
            wait_for(lambda: done_count(engine), count + how_many)
            latencies = sorted(
                (r.finished_at - r.enqueued_at) * 1000 for r in finished_rows(engine, count + 1)
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        engine.dispose()
    return per_s, latencies, cpu_ms


def huey_throughput(folder: Path, count: int, threads: int) -> float:
    from huey import SqliteHuey

    (folder / "bench_huey_app.py").write_text(HUEY_APP)
    database = folder / "huey.db"
    env = {**os.environ, "BENCH_HUEY_DB": str(database), "PYTHONPATH": str(folder)}
    os.environ["BENCH_HUEY_DB"] = str(database)
    consumer_bin = Path(sys.executable).with_name("huey_consumer")
    consumer = subprocess.Popen(
        [str(consumer_bin), "bench_huey_app.huey", "-w", str(threads), "-k", "thread"]
        + ["-d", "0.005", "-m", "0.005", "-C", "-n", "-q"],
        env=env,
        cwd=folder,
    )
    try:
        time.sleep(1.5)
        sys.path.insert(0, str(folder))
        import bench_huey_app  # type: ignore[import-not-found]

        huey: SqliteHuey = bench_huey_app.huey
        started = time.time()
        for i in range(count):
            bench_huey_app.noop(i)
        wait_for(huey.result_count, count)
        return count / (time.time() - started)
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)


def procrastinate_throughput(folder: Path, conninfo: str, count: int, threads: int, page: int):
    import psycopg

    (folder / "bench_procrastinate_app.py").write_text(PROCRASTINATE_APP)
    os.environ["BENCH_PG_CONNINFO"] = conninfo
    sys.path.insert(0, str(folder))
    import bench_procrastinate_app  # type: ignore[import-not-found]

    app = bench_procrastinate_app.app
    with app.open():
        app.schema_manager.apply_schema()
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [str(Path(sys.executable).with_name("procrastinate"))]
    command += ["--app=bench_procrastinate_app.app", "worker", "--concurrency", str(threads)]
    worker = subprocess.Popen(command, env=env, cwd=folder, stderr=subprocess.DEVNULL)

    def succeeded() -> int:
        with psycopg.connect(conninfo) as connection:
            row = connection.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            return int(row[0]) if row else 0

    try:
        time.sleep(2.0)
        started = time.time()
        with app.open():
            for first in range(0, count, page):
                numbers = range(first, min(first + page, count))
                bench_procrastinate_app.noop.batch_defer(*({"n": i} for i in numbers))
        wait_for(succeeded, count)
        return count / (time.time() - started)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def claim_latencies(
    folder: Path, future: int, claims: int
) -> tuple[list[float], list[float], list[float]]:
    """Claims of 8 among due tasks, and idle claims, with `future` future-dated tasks stored;
    and the CPU time of the claims of 8 (what a loaded machine cannot inflate)."""
    path = folder / "claims.db"
    url = f"sqlite:///{path}"
    engine = open_store(load_settings(env={"CONNECTOR_DATABASE_URL": url}, env_file=None))
    now = time.time()
    with sqlite3.connect(path) as raw:  # a million rows the fast way
        raw.executemany(
            "INSERT INTO tasks (kind, payload, state, run_at, enqueued_at, attempts, priority,"
            " lane) VALUES ('woocommerce.order', '{}', 'queued', ?, ?, 0, ?, ?)",
            (
                (
                    now + 86400 + n,
                    now,
                    (LIVE, POLL, BULK)[n % 3],
                    ("woocommerce", "bitrix24")[n % 2],
                )
                for n in range(future)
            ),
        )
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the load's WAL is no claim's to copy
    queue = Queue(engine)
    kinds = ("woocommerce.order", "push.bitrix24.deal", "push.mailchimp.member")
    for n, kind in enumerate(kinds):
        items = [({"n": i}, None, None) for i in range(claims * 8 // 3 + 8)]
        queue.enqueue_many(kind, items, priority=(LIVE, POLL, BULK)[n])
    busy, idle, cpu = [], [], []
    for _ in range(claims):
        started, started_cpu = time.perf_counter(), time.thread_time()
        claimed = queue.claim("bench", limit=8)
        busy.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        queue.complete_many(claimed, "bench")
    while queue.claim("bench", limit=8):  # drain what is left: then only future tasks remain
        pass
    for _ in range(claims):
        started = time.perf_counter()
        queue.claim("bench", limit=8)
        idle.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return sorted(busy), sorted(idle), sorted(cpu)


def p(values: list[float], fraction: float) -> float:
    return values[max(0, int(len(values) * fraction) - 1)]


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
    parser.add_argument("--future-tasks", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument(
        "--only", choices=("connector", "peers", "claims"), help="run one part of the bench"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    lines = []

    if args.only in (None, "connector"):
        url = f"sqlite:///{folder / 'queue.db'}"
        per_s, latencies, cpu_ms = connector_throughput(
            url, args.tasks, args.threads, args.page, (args.latency_tasks, args.latency_rate)
        )
        p50, p99 = statistics.median(latencies), p(latencies, 0.99)
        print(
            f"throughput: {args.tasks} tasks in pages of {args.page}, one worker process with "
            f"{args.threads} threads: {per_s:.0f} tasks/s, {cpu_ms:.3f} ms of worker CPU per task"
        )
        print(
            f"latency: {args.latency_tasks} tasks enqueued one by one:"
            f" p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        lines.append(
            f"tasks_per_s={per_s:.0f} worker_cpu_ms_per_task={cpu_ms:.3f}"
            f" p50_ms={p50:.1f} p99_ms={p99:.1f}"
        )
    if args.only in (None, "claims"):
        busy, idle, cpu = claim_latencies(folder, args.future_tasks, args.claims)
        print(
            f"claims with {args.future_tasks} future-dated tasks: of 8 due p50 "
            f"{statistics.median(busy):.2f} ms p99 {p(busy, 0.99):.2f} ms; idle p99 "
            f"{p(idle, 0.99):.2f} ms"
        )
        worst = max(p(busy, 0.99), p(idle, 0.99))
        lines.append(
            f"claim_p50_ms={statistics.median(busy):.2f} claim_p99_ms={worst:.2f}"
            f" claim_cpu_p99_ms={p(cpu, 0.99):.2f} future_tasks={args.future_tasks}"
        )
    if lines:
        print("BENCH queue " + " ".join(lines))

    if args.only in (None, "peers"):
        peers(args, folder)


def peers(args: argparse.Namespace, folder: Path) -> None:
    count = args.tasks
    ours, _, _ = connector_throughput(
        f"sqlite:///{folder / 'peer-sqlite.db'}", count, args.threads, args.page
    )
    try:
        theirs = huey_throughput(folder, count, args.threads)
    except ImportError:
        print("huey is not installed (pip install -r bench/requirements.txt): skipped")
    else:
        print(
            f"BENCH queue_peer store=sqlite connector_per_s={ours:.0f} huey_per_s={theirs:.0f}"
            f" ratio={ours / theirs:.2f}"
        )
    if not args.postgres:
        print("no PostgreSQL URL (--postgres or TEST_POSTGRES_URL): procrastinate skipped")
        return
    import psycopg

    base = args.postgres.replace("postgresql+psycopg://", "postgresql://")
    stamp = f"bench_queue_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as connection:
        for name in ("ours", "peer"):
            connection.execute(f"CREATE DATABASE {stamp}_{name}")
    server = base.rsplit("/", 1)[0]
    ours_pg, _, _ = connector_throughput(
        f"postgresql+psycopg://{server.split('://', 1)[1]}/{stamp}_ours",
        count,
        args.threads,
        args.page,
    )
    try:
        theirs_pg = procrastinate_throughput(
            folder, f"{server}/{stamp}_peer", count, args.threads, args.page
        )
    except ImportError:
        print("procrastinate is not installed (pip install -r bench/requirements.txt): skipped")
        return
    print(
        f"BENCH queue_peer store=postgresql connector_per_s={ours_pg:.0f}"
        f" procrastinate_per_s={theirs_pg:.0f} ratio={ours_pg / theirs_pg:.2f}"
    )


if __name__ == "__main__":
    main()
