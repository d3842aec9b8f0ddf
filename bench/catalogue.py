"""Benchmark: a full catalogue sync to the Bitrix24 and Mailchimp emulators under their limits,
memory at two catalogue sizes, and the time from a price change seen on a poll to every copy.

A child process (the connector: store, queue, a worker of `CONNECTOR_WORKER_THREADS`) takes
`--products` products of `--variants` variants each from a master read (as a CSV master or a
full sync does: `take_products`, chunked pushes), and its worker pushes them to both copies at
once; the emulators run in this process, so the child's peak RSS is the connector's alone.

Ceilings: Bitrix24 `--rate` requests/s x 50 commands a batch (one `crm.product.add` per
variant), minus the bucket's first `--burst` requests, which are not credited (as
bench/bitrix24_push.py); Mailchimp `concurrency_limit` (10) connections / `--mailchimp-delay`
seconds a request (one POST per new product, with its variants). Each copy's ratio is what it
achieved over its ceiling, timed from the first push to its last push finished.

Then one product's price changes in the master: the time from the poll's `take_products` to
both copies holding the new price (the `latency_s` of `BENCH catalogue_change`). Last, the same
sync in a fresh child with `--products` x 2: peak RSS at both sizes.

    .venv/bin/python bench/catalogue.py                       # 2,000 x 4: about 3 minutes
    .venv/bin/python bench/catalogue.py --products 50000 --variants 4 --rate 5 \
        --mailchimp-delay 0.1 --skip-double                   # the full run: about 14 minutes
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import logging
import multiprocessing
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

BATCH = 50


def catalogue(products: int, variants: int, currency: str = "USD") -> Iterator[Any]:
    from connector.catalogue import Product, Variant

    for number in range(1, products + 1):
        pid = str(number)
        yield Product(
            product_id=pid,
            name=f"Bench product {number}",
            master="csv",
            url=f"https://shop.example/p/{number}",
            variants=tuple(
                Variant(
                    variant_id=f"{pid}-{v}",
                    sku=f"B{number:06d}-{v}",
                    name=f"Bench product {number} ({v})",
                    price=f"{10 + number % 90}.{v}0",
                    currency=currency,
                    stock=(number + v) % 20,
                    stock_by_warehouse={"main": (number + v) % 20},
                )
                for v in range(1, variants + 1)
            ),
        )


def unfinished(engine: Any, kind: str) -> int:
    from sqlalchemy import func, select

    from connector.store.tables import tasks

    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.kind == kind, tasks.c.state.in_(("queued", "waiting", "running")))
            )
        )


def dead(engine: Any) -> int:
    from sqlalchemy import func, select

    from connector.store.tables import tasks

    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(tasks).where(tasks.c.state == "dead")
            )
        )


def connector_child(env: dict[str, str], args: dict[str, Any], answer: Any) -> None:
    """The connector's side, in its own process: seed, sync, change a price, report."""
    from connector.catalogue.copies import KINDS
    from connector.catalogue.intake import take_products
    from connector.config import load_settings
    from connector.services import Services
    from connector.worker import Worker

    logging.basicConfig(level=logging.ERROR)
    folder = tempfile.mkdtemp(prefix="bench-catalogue-")
    settings = load_settings(
        env={
            **env,
            "CONNECTOR_DATABASE_URL": f"sqlite:///{folder}/connector.db",
            "CONNECTOR_BITRIX24_RATE": str(args["rate"]),
            "CONNECTOR_BITRIX24_BURST": str(args["burst"]),
            "CONNECTOR_LOG_LEVEL": "ERROR",
            "CONNECTOR_MAILCHIMP_CONNECTIONS": "10",
        },
        env_file=None,
    )
    services = Services(settings)
    engine = services.engine
    started = time.perf_counter()
    take_products(services, catalogue(args["products"], args["variants"]), live=False)
    seeded = time.perf_counter() - started
    worker = Worker(services, threads=settings.worker_threads, poll_seconds=0.02, name="bench")
    thread = threading.Thread(target=worker.run, daemon=True)
    begun = time.perf_counter()
    thread.start()
    done: dict[str, float] = {}
    while len(done) < len(KINDS):
        for copy, kind in KINDS.items():
            if copy not in done and unfinished(engine, kind) == 0:
                done[copy] = time.perf_counter() - begun
        time.sleep(0.05)
    # a price change seen on the next poll: the master's product read with its new price
    changed = next(catalogue(1, args["variants"]))
    from dataclasses import replace

    changed = replace(
        changed,
        variants=tuple(replace(v, price="999.00") for v in changed.variants),
    )
    seen = time.perf_counter()
    take_products(services, [changed], live=True)
    while any(unfinished(engine, kind) for kind in KINDS.values()):
        time.sleep(0.005)
    latency = time.perf_counter() - seen
    worker.stop()
    thread.join(timeout=10)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answer.send(
        {
            "seeded_s": seeded,
            "done": done,
            "latency_s": latency,
            "dead": dead(engine),
            "peak_rss_mb": usage.ru_maxrss / 1024,
        }
    )
    services.close()


def run_once(args: argparse.Namespace, products: int) -> dict[str, Any]:
    from connector_sandbox.runner import Sandbox

    config = {
        "bitrix24": {"rate_limit_drain": args.rate, "rate_limit_burst": args.burst},
        "mailchimp": {"response_delay": args.mailchimp_delay, "validate": args.validate},
    }
    with Sandbox(names=("bitrix24", "mailchimp"), config=config) as sandbox:
        env = sandbox.settings_env()
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        options = {"products": products, "variants": args.variants, "rate": args.rate,
                   "burst": args.burst}  # fmt: skip
        child = context.Process(target=connector_child, args=(env, options, send))
        child.start()
        report = receive.recv()
        child.join()
        b24 = sandbox.apps["bitrix24"]
        report["bitrix24_requests"] = _bitrix24_requests(b24)
        report["bitrix24_refused"] = _portal(b24).state.refused
        report["bitrix24_by_method"] = dict(_portal(b24).state.requests)
        report["mailchimp_products"] = products
        held = _crm_items(b24)
        report["crm_items"] = held
    return report


def _portal(app: Any) -> Any:
    return app.extensions["bitrix24"]


def _bitrix24_requests(app: Any) -> int:
    return sum(_portal(app).state.requests.values())


def _crm_items(app: Any) -> int:
    catalog = getattr(_portal(app).state, "_sandbox_catalog", None)
    return len(catalog.items) if catalog is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=4, help="variants per product")
    parser.add_argument(
        "--rate", type=float, default=2.0, help="portal drain rate, requests/s (2: standard plan)"
    )
    parser.add_argument("--burst", type=int, default=50, help="portal bucket size")
    parser.add_argument(
        "--mailchimp-delay", type=float, default=0.2, help="seconds each Mailchimp call takes"
    )
    parser.add_argument(
        "--validate", action="store_true", help="the Mailchimp emulator checks bodies (CPU)"
    )
    parser.add_argument("--verbose", action="store_true", help="Bitrix24 requests by method")
    parser.add_argument("--skip-double", action="store_true", help="no second run at 2x size")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    sizes = [args.products] if args.skip_double else [args.products, args.products * 2]
    peaks = []
    for number, products in enumerate(sizes):
        report = run_once(args, products)
        peaks.append(report["peak_rss_mb"])
        if number:
            continue
        variants = products * args.variants
        b24_ceiling = args.rate * BATCH
        credited = max(0, variants - args.burst * BATCH)
        b24_rate = credited / report["done"]["bitrix24"]
        mc_ceiling = 10 / args.mailchimp_delay
        mc_rate = products / report["done"]["mailchimp"]
        print(
            f"BENCH catalogue copy=bitrix24 products={products} variants={variants} "
            f"seconds={report['done']['bitrix24']:.1f} items_per_s={b24_rate:.1f} "
            f"ceiling={b24_ceiling:.0f} ratio={b24_rate / b24_ceiling:.3f} "
            f"requests={report['bitrix24_requests']} refused={report['bitrix24_refused']} "
            f"crm_items={report['crm_items']}",
            flush=True,
        )
        print(
            f"BENCH catalogue copy=mailchimp products={products} variants={variants} "
            f"seconds={report['done']['mailchimp']:.1f} requests_per_s={mc_rate:.1f} "
            f"ceiling={mc_ceiling:.0f} ratio={mc_rate / mc_ceiling:.3f}",
            flush=True,
        )
        if args.verbose:
            print(f"bitrix24 requests by method: {report['bitrix24_by_method']}")
        print(
            f"BENCH catalogue_change latency_s={report['latency_s']:.2f} "
            f"seed_s={report['seeded_s']:.1f} dead={report['dead']}",
            flush=True,
        )
    print(
        "BENCH catalogue_memory "
        + " ".join(f"products_{n}_peak_rss_mb={p:.0f}" for n, p in zip(sizes, peaks, strict=True)),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
