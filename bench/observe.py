"""How fast the health signals (connector/observe.py) read a big store, and what their index costs.

1. `overview`: a temporary SQLite store seeded directly with `--done` finished tasks (1,000,000)
   of every kind the connector knows, spread over the last week, `--dead` dead letters (10,000)
   with three failed attempts each, a thousand queued tasks, refused webhooks per minute and a
   failing system (its recent errors and no success since). Then each signal is read `--runs`
   times: `observe.overview` (all at once, what the console's overview and each alert evaluation
   read) and each part alone. Prints `BENCH observe part=... p50_ms=... p95_ms=...`.
2. `index_cost`: what `ix_tasks_state_kind_finished` adds to the queue's hot path: `--tasks`
   (20,000) tasks enqueued, claimed and completed in batches of 50, on a store with the index and
   on one without. Prints `BENCH observe part=index_cost with_ms=... without_ms=... extra_pct=...`.
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like top-level modules (webhooks, queue): keep it off the path.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import text  # noqa: E402

from connector import keys, observe  # noqa: E402
from connector.config import load_settings  # noqa: E402
from connector.services import Services  # noqa: E402

WEEK = 7 * 86400.0


def build(folder: Path) -> Services:
    settings = load_settings(
        env={"CONNECTOR_DATABASE_URL": f"sqlite:///{folder / 'connector.db'}"}, env_file=None
    )
    services = Services(settings)
    services.engine  # noqa: B018 - migrates the store
    return services


def seed(services: Services, done: int, dead: int, now: float) -> None:
    kinds = services.registry.kinds()
    rng = random.Random(7)
    raw = services.engine.raw_connection()
    cursor = raw.cursor()
    insert_task = (
        "INSERT INTO tasks (kind, payload, state, dedupe_key, ordering_key, run_at, enqueued_at,"
        " attempts, finished_at, last_error) VALUES (?, '{}', ?, NULL, ?, ?, ?, ?, ?, ?)"
    )
    jobs = [keys.job(job.name) for system in services.systems for job in system.job_list()]
    batch: list[tuple[Any, ...]] = []
    for number in range(done):
        at = now - WEEK * (1 - number / done)  # older first, as ids grow
        kind = kinds[number % len(kinds)]
        key = jobs[number % len(jobs)] if kind == "sync.poll" else None
        batch.append((kind, "done", key, at, at, 1, at + 0.5, None))
        if len(batch) == 50_000:
            cursor.executemany(insert_task, batch)
            batch.clear()
    cursor.executemany(insert_task, batch)
    first_dead = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchone()[0]
    cursor.executemany(
        insert_task,
        [
            (rng.choice(kinds), "dead", None, now, now - 3600, 3, now - rng.random() * WEEK, "bad")
            for _ in range(dead)
        ],
    )
    cursor.executemany(
        "INSERT INTO task_errors (task_id, attempt, started_at, failed_at, error_type, message)"
        " VALUES (?, ?, ?, ?, 'TransientError', 'Bitrix24 answered 503 for +7 912 345 67 89')",
        [
            (task_id, attempt, now - 4000 + attempt, now - 4000 + attempt)
            for task_id in range(first_dead, first_dead + dead)
            for attempt in (1, 2, 3)
        ],
    )
    # a failing system: none of its tasks done for two hours, its newest tasks retrying
    cursor.execute(
        "DELETE FROM tasks WHERE kind LIKE '%mailchimp%' AND state = 'done' AND finished_at > ?",
        (now - 7200,),
    )
    cursor.executemany(
        insert_task,
        [("push.mailchimp.member", "queued", None, now + 60, now - 7000, 5, None, "503")] * 200,
    )
    last = cursor.execute("SELECT max(id) FROM tasks").fetchone()[0]
    cursor.executemany(
        "INSERT INTO task_errors (task_id, attempt, started_at, failed_at, error_type, message)"
        " VALUES (?, 1, ?, ?, 'TransientError', 'Mailchimp answered 503')",
        [(last - n, now - 3000 + n, now - 3000 + n) for n in range(200)],
    )
    queued = [(rng.choice(kinds), "queued", None, now - 5, now - 5, 0, None, None)] * 800
    cursor.executemany(insert_task, queued)
    minute = int(now // 60)
    cursor.executemany(
        "INSERT INTO webhook_refusals (source, minute, count) VALUES (?, ?, ?)",
        [(source, minute - ago, 3) for source in ("woocommerce", "shop") for ago in range(1440)],
    )
    raw.commit()
    cursor.execute("ANALYZE")
    raw.commit()
    raw.close()


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    call()  # warm: the task registry, compiled statements
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
    return statistics.median(seconds) * 1000, p95 * 1000


def bench_overview(done: int, dead: int, runs: int, store: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(store or scratch)
        reuse = (folder / "connector.db").exists()
        services = build(folder)
        now = time.time()
        started = time.perf_counter()
        if not reuse:
            seed(services, done, dead, now)
        seeded = time.perf_counter() - started
        found = observe.overview(services)
        mailchimp = next(s for s in found.systems if s.name == "mailchimp")
        assert found.dead_letters.count == dead, found.dead_letters
        assert mailchimp.failing, mailchimp
        parts: dict[str, Callable[[], Any]] = {
            "overview": lambda: observe.overview(services),
            "systems": lambda: observe.systems_health(services),
            "queue": lambda: observe.queue_depth(services),
            "throughput": lambda: observe.throughput(services),
            "dead_letters": lambda: observe.dead_letters(services),
            "refusals": lambda: observe.refused_webhooks(services),
        }
        results = {}
        for name, call in parts.items():
            p50, p95 = timed(call, runs)
            results[name] = (p50, p95)
            print(
                f"BENCH observe part={name} done={done} dead={dead} runs={runs}"
                f" p50_ms={p50:.1f} p95_ms={p95:.1f}"
            )
        services.close()
        return {"seed_seconds": round(seeded, 1), **results}


def churn(services: Services, count: int) -> float:
    queue = services.queue
    started = time.perf_counter()
    for first in range(0, count, 50):
        queue.enqueue_many(
            "diagnostic.noop", [({"n": n}, None, None) for n in range(first, first + 50)]
        )
        claimed = queue.claim("bench", 50)
        queue.complete_many(claimed, "bench")
    return (time.perf_counter() - started) * 1000


def bench_index_cost(count: int, rounds: int = 3) -> None:
    """Each variant `rounds` times, alternating (a shared machine's load drifts); the best."""
    spent: dict[str, float] = {}
    for _ in range(rounds):
        for variant in ("with", "without"):
            with tempfile.TemporaryDirectory() as folder:
                services = build(Path(folder))
                if variant == "without":
                    with services.engine.begin() as connection:
                        connection.execute(text("DROP INDEX ix_tasks_state_kind_finished"))
                churn(services, 1000)  # warm
                took = churn(services, count)
                spent[variant] = min(spent.get(variant, took), took)
                services.close()
    extra = (spent["with"] / spent["without"] - 1) * 100
    print(
        f"BENCH observe part=index_cost tasks={count} with_ms={spent['with']:.0f}"
        f" without_ms={spent['without']:.0f} extra_pct={extra:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--done", type=int, default=1_000_000)
    parser.add_argument("--dead", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--skip-index-cost", action="store_true")
    parser.add_argument("--only-index-cost", action="store_true")
    parser.add_argument(
        "--store",
        help="a folder to seed once and reuse (its connector.db is kept; seeding "
        "1,000,000 tasks takes minutes)",
    )
    options = parser.parse_args()
    logging.disable(logging.WARNING)
    if not options.only_index_cost:
        report = bench_overview(options.done, options.dead, options.runs, options.store)
        print(json.dumps({"seed_seconds": report["seed_seconds"]}))
    if not options.skip_index_cost:
        bench_index_cost(options.tasks)


if __name__ == "__main__":
    main()
