"""Benchmark: orders per second through the whole flow, WooCommerce webhook to Bitrix24 deal.

N orders (default 2,000) are created in the WooCommerce emulator at once, each by a new buyer,
with two products and a shipping line; its webhooks reach the connector (served on a loopback
port, SQLite store; one worker beside the web server, or `--worker-processes N` separate
`connector worker` processes sharing the portal's request bucket through the store), which
makes the contacts and the deals with their product rows in the Bitrix24 emulator, whose leaky
bucket is the real one (burst 50, draining `--rate` requests per second; a `batch` of 50
commands counts as one request). Measured, per portal rate:

- orders_per_s: N over the time from the first webhook stored to the last deal's product rows;
- commands_per_order: every REST command the portal ran (each command of a batch counts) / N;
- ceiling_ratio: commands per second over the portal's ceiling (rate x 50 commands);
- p50/p95/p99 from webhook to deal with rows, for orders arriving at a steady `--steady` per
  second after the burst (`--steady-orders` of them).

`--full-sync` instead seeds `--orders` historical orders (default 10,000 then) before the
connector is registered, and times `connector sync --full` of the orders stream until every
deal has its rows.

    .venv/bin/python bench/flow.py --orders 2000 --rates 2,5
    .venv/bin/python bench/flow.py --orders 2000 --rates 5 --worker-processes 2
    .venv/bin/python bench/flow.py --full-sync --orders 10000 --rates 2
"""

from __future__ import annotations

import sys

# bench/ may hold a script named like a standard module (queue.py): drop the script folder from
# the path before anything imports it
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse
import collections
import json
import logging
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import event, func, select

from connector.app import create_app
from connector.config import Settings, load_settings
from connector.services import Services
from connector.store.tables import audit, inbound_events, tasks
from connector.worker import Worker
from connector_sandbox.runner import Sandbox, serve
from connector_sandbox.wiring import point_webhooks_at

BATCH = 50
PRODUCTS = (93, 87)  # two simple products of the emulator's catalog
TOPICS = ["order.created", "order.updated"]
B24_EVENTS = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMCONTACTADD", "ONCRMCONTACTUPDATE"]
APP_TOKEN = "bench-application-token"


@dataclass
class Figures:
    rate: float
    orders: int
    seconds: float
    commands: int
    requests: int
    refused: int
    latencies: list[float]
    dead: int
    worker_cpu: float = 0.0  # CPU seconds of separate worker processes

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    @property
    def commands_per_order(self) -> float:
        return self.commands / self.orders if self.orders else 0.0

    @property
    def ceiling_ratio(self) -> float:
        return (self.commands / self.seconds) / (self.rate * BATCH) if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- the world ------------------------------------------------------------------------------


class RemoteSandbox:
    """The emulators in a child process, so their CPU is not the connector's (one GIL each);
    controlled over HTTP as the in-process `Sandbox` is."""

    def __init__(self, config: dict[str, dict[str, Any]]) -> None:
        context = multiprocessing.get_context("fork")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_serve_sandbox, args=(config, child), daemon=True)
        self._process.start()
        self.urls, self._env, self._webhook_url = self._parent.recv()
        self._session = requests.Session()
        self._session.trust_env = False

    def settings_env(self) -> dict[str, str]:
        return dict(self._env)

    def bitrix24_webhook_url(self) -> str:
        return str(self._webhook_url)

    def control(self, name: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.urls[name]}/_sandbox/{path.lstrip('/')}"
        return self._session.request(method, url, timeout=kwargs.pop("timeout", 60), **kwargs)

    def stop(self) -> None:
        self._parent.send("stop")
        self._process.join(timeout=10)


def _serve_sandbox(config: dict[str, dict[str, Any]], pipe: Any) -> None:
    logging.disable(logging.WARNING)
    with Sandbox(names=("woocommerce", "bitrix24"), config=config) as sandbox:
        pipe.send((sandbox.urls, sandbox.settings_env(), sandbox.bitrix24_webhook_url()))
        pipe.recv()


@contextmanager
def world(
    rate: float, burst: int, threads: int
) -> Iterator[tuple[RemoteSandbox, Services, str, dict[str, str]]]:
    config = {"bitrix24": {"rate_limit_drain": rate, "rate_limit_burst": burst}}
    sandbox = RemoteSandbox(config)
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **sandbox.settings_env(),
                "CONNECTOR_DATABASE_URL": f"sqlite:///{Path(folder) / 'flow.db'}",
                "CONNECTOR_BITRIX24_RATE": str(rate),
                "CONNECTOR_BITRIX24_BURST": str(burst),
                "CONNECTOR_BITRIX24_APPLICATION_TOKEN": APP_TOKEN,
                "CONNECTOR_WORKER_THREADS": str(threads),
            }
            services = Services(load_settings(env=env, env_file=None))
            _ = services.engine, services.queue, services.mappings.current, services.registry
            served = serve(create_app(services))
            try:
                yield sandbox, services, served.url, env
            finally:
                served.stop()
                services.close()
    finally:
        sandbox.stop()


def register(sandbox: RemoteSandbox, services: Services, url: str) -> None:
    """What `connector setup` does: the CRM's user fields and both systems' webhooks."""
    from connector.systems.bitrix24.setup import user_fields_from_mappings

    for entity, wanted in user_fields_from_mappings(services.mappings_path).items():
        services.bitrix24.ensure_user_fields(entity, wanted)
    point_webhooks_at(
        sandbox,
        url,
        woocommerce_topics=TOPICS,
        bitrix24_events=B24_EVENTS,
        application_token=APP_TOKEN,
    )


def order_body(number: int) -> dict[str, Any]:
    """A paid order of a buyer never seen before: two products, one shipping line."""
    person = {
        "first_name": f"Buyer{number}",
        "last_name": "Bench",
        "email": f"buyer{number}@bench.example",
        "phone": f"+38067{number:07d}",
        "address_1": f"Street {number}",
        "city": "Kyiv",
        "country": "UA",
    }
    return {
        "status": "processing",
        "set_paid": True,
        "billing": person,
        "shipping": {k: v for k, v in person.items() if k not in ("email", "phone")},
        "line_items": [{"product_id": pid, "quantity": 1 + number % 2} for pid in PRODUCTS],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat", "total": "5.00"}],
    }


def create_orders(sandbox: RemoteSandbox, first: int, count: int) -> None:
    """Creates orders through the shop's REST batch endpoint, 100 a request."""
    session = requests.Session()
    base = sandbox.urls["woocommerce"]
    key, secret = _woo_credentials(sandbox)
    for start in range(first, first + count, 100):
        batch = [order_body(n) for n in range(start, min(first + count, start + 100))]
        answer = session.post(
            f"{base}/wp-json/wc/v3/orders/batch",
            json={"create": batch},
            auth=(key, secret),
            timeout=120,
        )
        answer.raise_for_status()
        failed = [item for item in answer.json()["create"] if "error" in item]
        assert not failed, failed[:1]


def _woo_credentials(sandbox: RemoteSandbox) -> tuple[str, str]:
    env = sandbox.settings_env()
    return env["CONNECTOR_WOOCOMMERCE_KEY"], env["CONNECTOR_WOOCOMMERCE_SECRET"]


def calls(sandbox: RemoteSandbox) -> dict[str, Any]:
    return sandbox.control("bitrix24", "GET", "/calls").json()


# -- measuring ------------------------------------------------------------------------------


class Workers:
    """The queue's workers: one in this process beside the web server, as `connector run` has
    it (`processes` 0), or `processes` separate `connector worker` processes sharing the store
    and, through it, the portal's request bucket."""

    def __init__(
        self, services: Services, env: dict[str, str], threads: int, processes: int
    ) -> None:
        self.started = time.time()
        self._children: list[subprocess.Popen[bytes]] = []
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None
        if not processes:
            self._worker = Worker(services, threads=threads, poll_seconds=0.02, name="bench-flow")
            self._thread = threading.Thread(target=self._worker.run, daemon=True)
            self._thread.start()
            return
        connector = Path(sys.executable).with_name("connector")
        child_env = {
            **os.environ,
            **env,
            "CONNECTOR_WORKER_POLL_SECONDS": "0.02",
            "CONNECTOR_ENV_FILE": "/nonexistent",
            "CONNECTOR_LOG_LEVEL": "error",
        }
        for _ in range(processes):
            self._children.append(
                subprocess.Popen(
                    [str(connector), "worker", "--threads", str(threads)], env=child_env
                )
            )

    def cpu_seconds(self) -> float:
        """CPU time of the worker processes so far (0 for the in-process worker)."""
        return sum(process_cpu(child.pid) for child in self._children)

    def stop(self) -> None:
        if self._worker is not None and self._thread is not None:
            self._worker.stop()
            self._thread.join(timeout=30)
        for child in self._children:
            child.send_signal(signal.SIGTERM)
        for child in self._children:
            child.wait(timeout=60)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_rows(sandbox: RemoteSandbox, wanted: int, timeout: float, label: str) -> None:
    deadline = time.monotonic() + timeout
    last, shown = -1, time.monotonic()
    while time.monotonic() < deadline:
        held = calls(sandbox)
        done = held["deals_with_rows"]
        if done >= wanted:
            return
        if time.monotonic() - shown > 15 and done != last:
            print(f"  {label}: {done}/{wanted} deals with rows, {held['commands']} commands")
            last, shown = done, time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"{label}: only {calls(sandbox)['deals_with_rows']}/{wanted} in {timeout}s")


def first_webhook(services: Services, after: float) -> float:
    with services.engine.connect() as connection:
        query = select(func.min(inbound_events.c.received_at)).where(
            inbound_events.c.source == "woocommerce", inbound_events.c.received_at >= after
        )
        return float(connection.scalar(query) or after)


def rows_written(services: Services) -> dict[str, float]:
    """Canonical order id -> when its deal's product rows were first written."""
    query = (
        select(audit.c.canonical_id, func.min(audit.c.at))
        .where(audit.c.system == "bitrix24", audit.c.entity == "deal", audit.c.action == "rows")
        .group_by(audit.c.canonical_id)
    )
    with services.engine.connect() as connection:
        return {str(cid): float(at) for cid, at in connection.execute(query)}


def webhooks_received(services: Services, after: float) -> dict[str, float]:
    """Canonical order id -> when its first WooCommerce webhook was stored."""
    query = select(inbound_events.c.received_at, inbound_events.c.body).where(
        inbound_events.c.source == "woocommerce", inbound_events.c.received_at >= after
    )
    seen: dict[str, float] = {}
    with services.engine.connect() as connection:
        for received, body in connection.execute(query):
            try:
                oid = f"woocommerce-{json.loads(body)['id']}"
            except (ValueError, KeyError, TypeError):
                continue
            seen[oid] = min(seen.get(oid, received), received)
    return seen


def sample(services: Services, stop: threading.Event) -> None:
    """--verbose: every 5 s, the queue's states and the dispatcher's batches so far."""
    dispatcher = services.bitrix24.dispatcher
    while not stop.wait(5.0):
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        line = f"  queue {services.queue.stats()}, cpu {cpu.ru_utime + cpu.ru_stime:.1f} s"
        if dispatcher is not None:
            stats = dispatcher.stats
            line += (
                f", dispatcher {stats.batches} batches x {stats.per_batch:.1f} commands,"
                f" {dispatcher.pending()} waiting"
            )
        print(line, flush=True)


def origin() -> str:
    """The connector function that began a store transaction: the innermost frame of the
    connector outside the store's own plumbing."""
    frame = sys._getframe(2)
    skipped = ("/sqlalchemy/", "/connector/store/", "/contextlib.py", "/identity.py")
    while frame is not None:
        name = frame.f_code.co_filename
        if "/connector/" in name and not any(part in name for part in skipped):
            return f"{name.rsplit('/connector/', 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def burst(args: argparse.Namespace, rate: float) -> Figures:
    with world(rate, args.burst, args.threads) as (sandbox, services, url, env):
        register(sandbox, services, url)
        before = calls(sandbox)
        transactions = [0]
        origins: collections.Counter[str] = collections.Counter()
        held: collections.Counter[str] = collections.Counter()  # seconds of the write turn

        def count(connection: Any) -> None:
            transactions[0] += 1
            if args.verbose:
                reads = connection.get_execution_options().get("read_only")
                where = ("read  " if reads else "write ") + origin()
                origins[where] += 1
                if not reads:
                    connection.info["bench_begun"] = (where, time.perf_counter())

        statements: collections.Counter[str] = collections.Counter()

        def ended(connection: Any) -> None:
            begun = connection.info.pop("bench_begun", None)
            if begun is not None:
                held[begun[0]] += time.perf_counter() - begun[1]

        def executed(connection: Any, *_: Any) -> None:
            begun = connection.info.get("bench_begun")
            if begun is not None:
                statements[begun[0]] += 1

        event.listen(services.engine, "begin", count)
        event.listen(services.engine, "commit", ended)
        event.listen(services.engine, "rollback", ended)
        if args.verbose:
            event.listen(services.engine, "before_cursor_execute", executed)
        workers = Workers(services, env, args.threads, args.worker_processes)
        stop = threading.Event()
        if args.verbose:
            threading.Thread(target=sample, args=(services, stop), daemon=True).start()
        started = time.time()
        create_orders(sandbox, 1, args.orders)
        print(f"  {args.orders} orders created in the shop in {time.time() - started:.1f} s")
        wait_for_rows(sandbox, args.orders, args.timeout, f"{rate:g} rps")
        finished = max(rows_written(services).values())
        begun = first_webhook(services, started - 1)
        after = calls(sandbox)
        worker_cpu = workers.cpu_seconds()
        latencies = steady(args, sandbox, services) if args.steady_orders else []
        stop.set()
        workers.stop()
        dead = len(services.queue.dead_letters())
        if args.verbose:
            print(json.dumps(after["commands_by_method"]))
            with services.engine.connect() as connection:
                kinds = connection.execute(
                    select(tasks.c.kind, func.count()).group_by(tasks.c.kind)
                ).all()
            print("  tasks:", dict(sorted(((k, n) for k, n in kinds), key=lambda kn: -kn[1])))
            per_order = transactions[0] / args.orders
            print(f"  store transactions: {transactions[0]} ({per_order:.1f} per order), by caller")
            for where, n in origins.most_common(24):
                print(f"    {n / args.orders:5.1f}/order  {where}")
            total = sum(held.values())
            print(f"  write turn held {total * 1000 / args.orders:.1f} ms per order, by caller")
            for where, seconds in held.most_common(12):
                print(
                    f"    {seconds * 1000 / args.orders:5.2f} ms/order"
                    f" {statements[where] / max(1, origins[where]):5.1f} statements  {where}"
                )
        return Figures(
            rate=rate,
            orders=args.orders,
            seconds=finished - begun,
            commands=after["commands"] - before["commands"],
            requests=after["requests"] - before["requests"],
            refused=after["refused"] - before["refused"],
            latencies=latencies,
            dead=dead,
            worker_cpu=worker_cpu,
        )


def drain(services: Services, timeout: float) -> None:
    """Waits until no task is due within a second (a debounced one planned later may stay)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        due = (tasks.c.state.in_(("waiting", "running"))) | (
            (tasks.c.state == "queued") & (tasks.c.run_at <= time.time() + 1.0)
        )
        with services.engine.connect() as connection:
            if not connection.scalar(select(func.count()).select_from(tasks).where(due)):
                return
        time.sleep(0.5)


def steady(args: argparse.Namespace, sandbox: RemoteSandbox, services: Services) -> list[float]:
    """Orders one by one at `--steady` per second; seconds from webhook to deal with rows."""
    drain(services, args.timeout)  # the burst's echo events, balances and figures first
    started = time.time()
    first = args.orders + 1
    gap = 1.0 / args.steady
    for index in range(args.steady_orders):
        due = started + index * gap
        time.sleep(max(0.0, due - time.time()))
        create_orders(sandbox, first + index, 1)
    wait_for_rows(sandbox, args.orders + args.steady_orders, args.timeout, "steady")
    received = webhooks_received(services, started - 0.5)
    written = rows_written(services)
    return [written[oid] - at for oid, at in received.items() if oid in written]


def full_sync(args: argparse.Namespace, rate: float) -> Figures:
    from connector.sync.full import FullSync

    with world(rate, args.burst, args.threads) as (sandbox, services, url, env):
        started = time.time()
        create_orders(sandbox, 1, args.orders)  # history: no webhook is registered yet
        print(f"  {args.orders} historical orders seeded in {time.time() - started:.1f} s")
        register(sandbox, services, url)
        before = calls(sandbox)
        workers = Workers(services, env, args.threads, args.worker_processes)
        stop = threading.Event()
        if args.verbose:
            threading.Thread(target=sample, args=(services, stop), daemon=True).start()
        begun = time.time()
        FullSync(services, streams=("orders",)).run("woocommerce")
        print(f"  orders stream read and queued in {time.time() - begun:.1f} s")
        wait_for_rows(sandbox, args.orders, args.timeout, f"full sync {rate:g} rps")
        finished = max(rows_written(services).values())
        after = calls(sandbox)
        worker_cpu = workers.cpu_seconds()
        stop.set()
        workers.stop()
        if args.verbose:
            print(json.dumps(after["commands_by_method"]))
        return Figures(
            rate=rate,
            orders=args.orders,
            seconds=finished - begun,
            commands=after["commands"] - before["commands"],
            requests=after["requests"] - before["requests"],
            refused=after["refused"] - before["refused"],
            latencies=[],
            dead=len(services.queue.dead_letters()),
            worker_cpu=worker_cpu,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=None, help="2,000; 10,000 --full-sync")
    parser.add_argument("--rates", default="2,5", help="portal drain rates, requests/s")
    parser.add_argument("--burst", type=int, default=50, help="portal bucket size")
    parser.add_argument(
        "--threads",
        type=int,
        default=Settings.worker_threads,
        help="worker threads per process (default: CONNECTOR_WORKER_THREADS's)",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="0: one worker in the bench's process, beside the web server (`connector run`); "
        "N: N `connector worker` processes sharing the store and the portal's bucket",
    )
    parser.add_argument("--steady", type=float, default=5.0, help="orders/s of the latency run")
    parser.add_argument("--steady-orders", type=int, default=100)
    parser.add_argument("--full-sync", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = 10_000 if args.full_sync else 2_000
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("connector").setLevel(logging.ERROR)
    failed = 0
    for rate in (float(part) for part in args.rates.split(",")):
        workers = (
            f"{args.worker_processes} worker processes of {args.threads} threads"
            if args.worker_processes
            else f"one worker of {args.threads} threads in this process"
        )
        print(f"portal at {rate:g} requests/s, burst {args.burst}, {workers}")
        if args.full_sync:
            figures = full_sync(args, rate)
            name = "flow_full_sync"
        else:
            figures = burst(args, rate)
            name = "flow"
        failed += figures.dead
        latency = ""
        if figures.latencies:
            latency = (
                f" p50_s={figures.percentile(0.5):.2f} p95_s={figures.percentile(0.95):.2f}"
                f" p99_s={figures.percentile(0.99):.2f}"
            )
        print(
            f"  {figures.orders} orders in {figures.seconds:.1f} s, {figures.requests} requests"
            f" ({figures.refused} refused), {figures.commands} commands, "
            f"{figures.dead} dead letters"
            + (
                f", mean latency {statistics.mean(figures.latencies):.2f} s"
                if figures.latencies
                else ""
            )
            + (
                f", worker processes' CPU {figures.worker_cpu * 1000 / figures.orders:.1f} ms"
                " per order"
                if figures.worker_cpu
                else ""
            )
        )
        print(
            f"BENCH {name} rate={rate:g} orders={figures.orders} "
            f"orders_per_s={figures.orders_per_s:.2f} "
            f"commands_per_order={figures.commands_per_order:.2f} "
            f"ceiling_ratio={figures.ceiling_ratio:.3f}{latency} seconds={figures.seconds:.1f} "
            f"refused={figures.refused} worker_processes={args.worker_processes}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
