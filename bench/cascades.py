"""Trigger cascades at scale (issue 16): scheduling, sending, and claims under a deep backlog.

Phase 1 (schedule): N customers (`--customers`: 20,000 by default to stay within about three
minutes; 100,000 for the issue's figure) enter a three-step SMS scenario; each gets a
`cascade_runs` row and its first `cascade.step` task, due an hour later.
The first `--event-customers` (5,000) go the engine's live path: `notify` queues one
`cascade.event` task per customer (in transactions of 1,000, as a flow would) and one
in-process worker (4 threads) runs them; timed from the first event to the last step task, and
projected to 100,000. The rest go through the engine's `start_runs` 1,000 per transaction (what
one task of a bulk trigger, a segment entered by many at once, could do).
Phase 2 (send): the first steps of `--sends` runs (2,000) are made due, and the worker sends
them through the SMS.ru emulator (in-process, `--latency-ms` of added provider latency, 0 by
default): due steps sent per second, checked exactly once against the emulator's own count. The
emulator, like SMS.ru, has no request rate limit (only per-number daily limits), so the line
gives the ratio to `--limit` (30/s, Telegram's broadcast guidance, the tightest published limit
of our channels; see ../shared/research/messaging.md) with that limit named.
Then the report of every run (`connector cascades report`, the console's Cascades page): the
best of three, in ms.
Phase 3 (claims): the queue is filled to 1,000,000 future-dated `cascade.step` tasks
(`--future-tasks`), then claims of 8 among a few hundred due tasks and idle claims: p50/p99 of
one claim. On PostgreSQL too when a URL is given (`--postgres`, else CONNECTOR_BENCH_PG_URL or
TEST_POSTGRES_URL, as bench/queue_throughput.py): a scratch database is created and dropped.

Prints
`BENCH cascades phase=schedule customers=... schedule_s=... runs_per_s=...`,
`BENCH cascades phase=send sends=... sends_per_s=... limit_per_s=... ratio=...`,
`BENCH cascades phase=report runs=... report_ms=...` and
`BENCH cascades phase=claims store=... future_tasks=... claim_p50_ms=... claim_p99_ms=...`.
Targets: claim p99 under 10 ms with 1,000,000 future-dated tasks on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text, update

from connector import keys
from connector.cascades.engine import STEP_KIND, notify, start_runs
from connector.cascades.report import declared, report
from connector.cascades.rules import rules_for
from connector.config import BUNDLED_MAPPINGS, load_settings
from connector.identity import save_link
from connector.queue import BULK, LIVE, POLL, Queue
from connector.services import Services
from connector.store import open_store, reading
from connector.store.tables import cascade_runs, cascade_sends, tasks
from connector.worker import Worker

EVENT = "bench.entered"
SCENARIO = "bench_three_steps"
SCENARIOS = f"""
cascades:
  scenarios:
    {SCENARIO}:
      title: Three SMS after a named event
      trigger:
        event: {EVENT}
      steps:
        - channel: smsru
          text: "{{customer.first_name}}, your cart is waiting"
          delay: 1h
          marketing: false
        - channel: smsru
          text: "Still thinking, {{customer.first_name}}?"
          delay: 1d
          marketing: false
        - channel: smsru
          text: "The last reminder"
          delay: 1d
          marketing: false
"""
PAGE = 1000


def p(values: list[float], fraction: float) -> float:
    return values[max(0, int(len(values) * fraction) - 1)]


def count(engine: Engine, query: Any) -> int:
    with reading(engine) as connection:
        return int(connection.execute(query).scalar() or 0)


def wait_for(done: Callable[[], bool], timeout: float, label: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{label}: timed out after {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def working(services: Services, threads: int) -> Iterator[Worker]:
    worker = Worker(services, threads=threads, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, name="bench-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=60)


def phone(number: int) -> str:
    return f"+7916{number:07d}"


def schedule_events(services: Services, customers: int, threads: int) -> tuple[float, float]:
    """Phase 1, the event path: (seconds to queue the events, seconds from the first event to
    the last step task scheduled) for customers c0.. c<customers-1>."""
    engine = services.engine
    started = time.perf_counter()
    with working(services, threads):
        for first in range(0, customers, PAGE):
            with engine.begin() as connection:
                for number in range(first, min(first + PAGE, customers)):
                    notify(services, connection, EVENT, f"c{number}", f"entry-{number}")
        queued = time.perf_counter() - started
        steps = select(func.count()).select_from(tasks).where(tasks.c.kind == STEP_KIND)
        wait_for(lambda: count(engine, steps) >= customers, 3600, "schedule")
    took = time.perf_counter() - started
    runs = count(engine, select(func.count()).select_from(cascade_runs))
    if runs != customers:
        raise SystemExit(f"schedule: {runs} runs for {customers} customers")
    return queued, took


def schedule_batched(services: Services, first: int, customers: int) -> float:
    """Phase 1, batched: the engine's `start_runs` for 1,000 customers per transaction (what
    one task handling a bulk trigger, e.g. a segment entered by many at once, could do);
    seconds for customers c<first>..c<first+customers-1>."""
    engine = services.engine
    rules = rules_for(services.settings, services.systems)
    started = time.perf_counter()
    for page in range(first, first + customers, PAGE):
        now = services.queue.clock()
        with engine.begin() as connection:
            for number in range(page, min(page + PAGE, first + customers)):
                payload = {"event": EVENT, "customer_id": f"c{number}", "ref": f"entry-{number}",
                           "data": {}, "at": now}  # fmt: skip
                start_runs(connection, services, rules, payload, now)
    took = time.perf_counter() - started
    steps = select(func.count()).select_from(tasks).where(tasks.c.kind == STEP_KIND)
    if count(engine, steps) < first + customers:
        raise SystemExit("schedule: fewer step tasks than runs")
    return took


def send(services: Services, sandbox: Any, sends: int, threads: int) -> float:
    """Phase 2: the first steps of `sends` runs made due; seconds until all are sent."""
    engine = services.engine
    with engine.begin() as connection:
        for number in range(sends):
            cid = f"c{number}"
            save_link(connection, "customer", cid, "hub", cid,
                      data={"id": cid, "first_name": f"Anna {number}",
                            "phone": phone(number)})  # fmt: skip
        run_ids = list(
            connection.scalars(
                select(cascade_runs.c.id).where(
                    cascade_runs.c.customer_id.in_([f"c{n}" for n in range(sends)])
                )
            )
        )
    sent = select(func.count()).select_from(cascade_sends).where(cascade_sends.c.state == "sent")
    before = count(engine, sent)
    due = [keys.cascade_step(run_id, 0) for run_id in run_ids]
    with working(services, threads):
        started = time.perf_counter()
        with engine.begin() as connection:
            for first in range(0, len(due), 500):
                connection.execute(
                    update(tasks)
                    .where(tasks.c.dedupe_key.in_(due[first : first + 500]))
                    .values(run_at=time.time())
                )
        wait_for(lambda: count(engine, sent) - before >= sends, 900, "send")
        took = time.perf_counter() - started
    held = sandbox.control("smsru", "GET", "/messages").json()["count"]
    if held != sends:
        raise SystemExit(f"send: the emulator holds {held} messages for {sends} sends")
    return took


def timed_report(services: Services) -> float:
    """Seconds of one `connector cascades report` over every run (what the console's Cascades
    page reads)."""
    started = time.perf_counter()
    found = report(services.engine, declared=declared(services.settings, services.systems))
    took = time.perf_counter() - started
    if not found or not found[0].entered:
        raise SystemExit("report: no runs counted")
    return took


def fill_future(path: Path, wanted: int) -> int:
    """Adds future-dated `cascade.step` rows until the queue holds `wanted`; how many it holds."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        held = raw.execute(
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'waiting') AND run_at > ?",
            (time.time() + 60,),
        ).fetchone()[0]
        sample = raw.execute(
            "SELECT priority, lane FROM tasks WHERE kind = ? LIMIT 1", (STEP_KIND,)
        ).fetchone() or (BULK, "cascades")
        now = time.time()
        with raw:
            raw.executemany(
                "INSERT INTO tasks (kind, payload, state, run_at, enqueued_at, attempts,"
                " priority, lane, dedupe_key) VALUES (?, ?, 'queued', ?, ?, 0, ?, ?, ?)",
                (
                    (
                        STEP_KIND,
                        json.dumps({"run_id": 10_000_000 + n, "step": 0}),
                        now + 3600 + n % 86400,
                        now,
                        sample[0],
                        sample[1],
                        keys.cascade_step(10_000_000 + n, 0),
                    )
                    for n in range(max(0, wanted - held))
                ),
            )
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return max(wanted, held)


def claims(engine: Engine, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Claims of 8 among a few hundred due tasks of three priorities, then idle claims (ms),
    and the CPU time of the claims of 8 (what a loaded machine cannot inflate)."""
    queue = Queue(engine)
    for n, priority in enumerate((LIVE, POLL, BULK)):
        items = [({"run_id": -1, "step": i}, None, None) for i in range(rounds * 8 // 3 + 8)]
        queue.enqueue_many(f"bench.due{n}", items, priority=priority)
    busy, idle, cpu = [], [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.thread_time()
        claimed = queue.claim("bench", limit=8)
        busy.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        queue.complete_many(claimed, "bench")
    while queue.claim("bench", limit=8):
        pass
    for _ in range(rounds):
        started = time.perf_counter()
        queue.claim("bench", limit=8)
        idle.append((time.perf_counter() - started) * 1000)
    return sorted(busy), sorted(idle), sorted(cpu)


def claims_line(
    store: str, future: int, found: tuple[list[float], list[float], list[float]]
) -> str:
    busy, idle, cpu = found
    return (
        f"BENCH cascades phase=claims store={store} future_tasks={future}"
        f" claim_p50_ms={statistics.median(busy):.2f}"
        f" claim_p99_ms={max(p(busy, 0.99), p(idle, 0.99)):.2f}"
        f" idle_p99_ms={p(idle, 0.99):.2f} claim_cpu_p99_ms={p(cpu, 0.99):.2f}"
    )


def claims_postgres(
    url: str, future: int, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Phase 3 on a scratch PostgreSQL database (created, then dropped)."""
    import psycopg

    base = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_cascades_{os.getpid()}"
    server = base.rsplit("/", 1)[0]
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        scratch = f"postgresql+psycopg://{server.split('://', 1)[1]}/{name}"
        engine = open_store(load_settings(env={"CONNECTOR_DATABASE_URL": scratch}, env_file=None))
        queue = Queue(engine)
        queue.enqueue(STEP_KIND, {"run_id": 0, "step": 0}, run_at=time.time() + 3600)
        with engine.begin() as connection:
            priority, lane = connection.execute(select(tasks.c.priority, tasks.c.lane)).one()
            connection.execute(
                text(
                    "INSERT INTO tasks (kind, payload, state, run_at, enqueued_at, attempts,"
                    " priority, lane, dedupe_key) SELECT :kind, '{}', 'queued',"
                    " :now + 3600 + n % 86400, :now, 0, :priority, :lane, 'bench:' || n"
                    " FROM generate_series(1, :count) AS n"
                ),
                {
                    "kind": STEP_KIND,
                    "now": time.time(),
                    "priority": priority,
                    "lane": lane,
                    "count": future - 1,
                },  # fmt: skip
            )
            connection.execute(text("ANALYZE tasks"))
        found = claims(engine, rounds)
        engine.dispose()
        return found
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--customers", type=int, default=20_000, help="100000 for the issue's figure (~5 min)"
    )
    parser.add_argument(
        "--event-customers",
        type=int,
        default=5_000,
        help="of --customers, how many enter through cascade.event tasks (the rest batched)",
    )
    parser.add_argument("--sends", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=0, help="added SMS.ru emulator latency")
    parser.add_argument("--limit", type=float, default=30.0, help="the rate limit compared to")
    parser.add_argument("--future-tasks", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CONNECTOR_BENCH_PG_URL") or os.environ.get("TEST_POSTGRES_URL"),
    )
    parser.add_argument("--only", choices=("schedule", "claims"), help="run one part")
    args = parser.parse_args()
    from connector_sandbox.runner import Sandbox

    folder = Path(tempfile.mkdtemp(prefix="bench-cascades-"))
    mappings = folder / "mappings"
    shutil.copytree(BUNDLED_MAPPINGS, mappings)
    (mappings / "cascades.yaml").write_text(SCENARIOS, encoding="utf-8")
    path = folder / "connector.db"
    try:
        if args.only in (None, "schedule"):
            with Sandbox(names=("smsru",), config={"smsru": {"balance": 1e9}}) as sandbox:
                if args.latency_ms:
                    sandbox.faults("smsru", latency_ms=args.latency_ms)
                env = {
                    **sandbox.settings_env(),
                    "CONNECTOR_DATABASE_URL": f"sqlite:///{path}",
                    "CONNECTOR_MAPPINGS_DIR": str(mappings),
                    "CONNECTOR_LOG_LEVEL": "warning",
                }
                services = Services(load_settings(env=env, env_file=None))
                events = min(args.event_customers, args.customers)
                queued, took = schedule_events(services, events, args.threads)
                print(
                    f"BENCH cascades phase=schedule path=events customers={events} steps=3"
                    f" threads={args.threads} enqueue_s={queued:.1f} schedule_s={took:.1f}"
                    f" runs_per_s={events / took:.0f}"
                    f" projected_100k_s={100_000 * took / events:.0f}"
                )
                rest = args.customers - events
                if rest > 0:
                    took = schedule_batched(services, events, rest)
                    print(
                        f"BENCH cascades phase=schedule path=batched customers={rest} steps=3"
                        f" schedule_s={took:.1f} runs_per_s={rest / took:.0f}"
                        f" projected_100k_s={100_000 * took / rest:.0f}"
                    )
                sends = min(args.sends, args.customers)
                took = send(services, sandbox, sends, args.threads)
                rate = sends / took
                print(
                    f"BENCH cascades phase=send channel=smsru sends={sends}"
                    f" latency_ms={args.latency_ms} sends_per_s={rate:.0f}"
                    f" limit_per_s={args.limit:.0f} ratio={rate / args.limit:.2f}"
                    " emulator_limit=none"
                )
                runs = count(services.engine, select(func.count()).select_from(cascade_runs))
                took = min(timed_report(services) for _ in range(3))
                print(
                    f"BENCH cascades phase=report runs={runs} sends={sends}"
                    f" report_ms={took * 1000:.0f}"
                )
                services.close()
        if args.only in (None, "claims"):
            if not path.exists():
                open_store(load_settings(env={"CONNECTOR_DATABASE_URL": f"sqlite:///{path}"},
                                         env_file=None)).dispose()  # fmt: skip
            held = fill_future(path, args.future_tasks)
            engine = open_store(
                load_settings(env={"CONNECTOR_DATABASE_URL": f"sqlite:///{path}"}, env_file=None)
            )
            found = claims(engine, args.claims)
            engine.dispose()
            print(claims_line("sqlite", held, found))
            if args.postgres:
                found = claims_postgres(args.postgres, args.future_tasks, args.claims)
                print(claims_line("postgresql", args.future_tasks, found))
            else:
                print("no PostgreSQL URL (--postgres, CONNECTOR_BENCH_PG_URL or "
                      "TEST_POSTGRES_URL): claims on PostgreSQL skipped")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
