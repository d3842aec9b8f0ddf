"""The nightly analytics recompute over many customers, and the order-event update.

Fills `analytics_orders` with `--orders` orders of `--customers` customers (several channels and
categories, 5% cancelled, history up to three years), then:

1. the first nightly run (every customer new: all rows written), in a child process so its peak
   memory is its own;
2. the next night (recency moved a day; only changed rows written, their pushes batched 50 to a
   task, as for the Bitrix24 `batch` call);
3. `--events` order events through `keeper.order_changed` (upsert + one customer's recompute),
   each in its own transaction as the order flow runs it.

Prints `BENCH analytics run=first|next customers=... customers_per_s=... cpu_s=... peak_rss_mb=...`
and `BENCH analytics order_event p50_ms=... p99_ms=...`. SQLite by default; `--database-url`
runs it on PostgreSQL (an empty scratch database).
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like top-level modules (webhooks, queue): keep it off the path.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import func, insert, select  # noqa: E402

from connector.config import load_settings  # noqa: E402
from connector.services import Services  # noqa: E402
from connector.store.tables import analytics_orders, tasks  # noqa: E402

DAY = 86400.0
CHANNELS = ("woocommerce", "shop", "kaspi", "pos")
CATEGORIES = ("shoes", "bags", "coats", None)


def build(url: str, bitrix24: bool = True) -> Services:
    env = {"CONNECTOR_DATABASE_URL": url}
    if bitrix24:  # pushes are queued (never sent: no worker runs here)
        env["CONNECTOR_BITRIX24_WEBHOOK_URL"] = "http://127.0.0.1:9/rest/1/bench/"
    return Services(load_settings(env=env, env_file=None))


def fill(services: Services, customers: int, orders: int, now: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with services.engine.begin() as connection:
        for number in range(orders):
            # a few heavy buyers, many one-off ones
            customer = int(customers * rng.random() ** 2) if number >= customers else number
            rows.append(
                {
                    "order_id": f"o{number}",
                    "customer_id": f"c{customer:07d}",
                    "ordered_at": now - rng.random() ** 1.5 * 3 * 365 * DAY,
                    "amount": rng.randint(500, 50_000),
                    "counts": int(rng.random() > 0.05),
                    "channel": rng.choice(CHANNELS),
                    "category": rng.choice(CATEGORIES),
                    "updated_at": now,
                }
            )
            if len(rows) == 20_000:
                connection.execute(insert(analytics_orders), rows)
                rows.clear()
        if rows:
            connection.execute(insert(analytics_orders), rows)


def nightly(url: str, now: float, answer: Any) -> None:
    """In a child process: one nightly run; sends back its report and peak RSS."""
    from connector.analytics.keeper import recompute_all

    services = build(url)
    services.queue.clock = lambda: now
    report = recompute_all(services, now=now)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    answer.send((report.customers, report.changed, report.transitions, report.pushes,
                 report.seconds, peak, report.model is not None, cpu))  # fmt: skip
    services.close()


def run_child(url: str, now: float, name: str) -> None:
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=nightly, args=(url, now, send))
    child.start()
    customers, changed, moved, pushes, seconds, peak, model, cpu = receive.recv()
    child.join()
    print(
        f"BENCH analytics run={name} customers={customers} changed={changed} transitions={moved} "
        f"push_tasks={pushes} model={'yes' if model else 'no'} seconds={seconds:.1f} "
        f"customers_per_s={customers / seconds:.0f} cpu_s={cpu:.1f} "
        f"customers_per_cpu_s={customers / cpu:.0f} peak_rss_mb={peak:.0f} "
        f"load={os.getloadavg()[0]:.1f}",
        flush=True,
    )


def order_events(services: Services, count: int, customers: int, now: float) -> None:
    from connector.analytics.keeper import order_changed

    services.queue.clock = lambda: now
    rng = random.Random(2)
    spent = []
    for number in range(count):
        customer = f"c{int(customers * rng.random() ** 2):07d}"
        order = {
            "id": f"event-{number}",
            "customer_id": customer,
            "status": "processing",
            "total": "120.50",
            "created_at": now,
            "custom": {"source": {"system": "shop"}},
        }
        started = time.perf_counter()
        with services.engine.begin() as connection:
            order_changed(connection, services, order)
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    p99 = spent[min(len(spent) - 1, int(len(spent) * 0.99))]
    print(
        f"BENCH analytics order_event events={count} p50_ms={statistics.median(spent):.2f} "
        f"p99_ms={p99:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-rfm-')) / 'b.db'}"
    services = build(url)
    now = time.time()
    started = time.perf_counter()
    fill(services, args.customers, args.orders, now)
    print(f"filled {args.orders} orders in {time.perf_counter() - started:.1f}s", flush=True)
    services.engine.dispose()
    run_child(url, now, "first")
    run_child(url, now + DAY, "next")
    with services.engine.connect() as connection:
        queued = connection.scalar(select(func.count()).select_from(tasks))
    print(f"tasks queued: {queued}")
    order_events(services, args.events, args.customers, now + DAY)
    services.close()


if __name__ == "__main__":
    main()
