"""Benchmark: push N contacts (phones and e-mails) into the Bitrix24 emulator under its rate limit.

Prints achieved operations per second against the ceiling (drain rate x 50 commands per batch)
and the failed operations, then does the same with the `fast-bitrix24` library (bench-only,
`pip install -r bench/requirements.txt`) and prints our ops/s divided by theirs; then once more
with fast-bitrix24 set to 90% of the portal's rate and bucket (`--safe-share`), the setting its
users choose to avoid refusals, so the ratio is a number even when the full-rate run fails.

Each library gets a fresh portal and pushes N + burst x 50 contacts in one call, timed. The
first burst x 50 ride the bucket's initial allowance (50 requests at once) and are not credited:
ops/s = N / whole time, a conservative steady-state figure that a short run cannot flatter.

    .venv/bin/python bench/bitrix24_push.py --contacts 10000 --rate 10 --burst 50
"""

from __future__ import annotations

import os
import sys

# bench/ holds a script named queue.py: drop the script folder from the path before any import
# of the standard `queue` module (urllib3 needs it).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.systems.bitrix24 import Bitrix24Client, Plan, WebhookConnection
from connector_sandbox.runner import Sandbox

BATCH = 50


@dataclass
class Run:
    name: str
    seconds: float
    pushed: int
    failed: int
    created: int
    credited: int
    refused: int = 0

    @property
    def ops_per_s(self) -> float:
        return max(0, self.credited) / self.seconds if self.seconds else 0.0


def contacts(first: int, count: int) -> list[dict]:
    return [
        {
            "fields": {"NAME": f"Bench {i}", "LAST_NAME": "Customer", "SOURCE_ID": "WEB"},
            "phones": [f"+7999{i:07d}"],
            "emails": [f"bench{i}@example.com"],
        }
        for i in range(first, first + count)
    ]


def count_contacts(client: Bitrix24Client) -> int:
    """Contacts the portal holds (one list call with a COUNT)."""
    return int(client.call_raw("crm.contact.list", {"select": ["ID"], "start": 0}).get("total", 0))


def total(args: argparse.Namespace) -> int:
    return args.contacts + args.burst * BATCH


def run_ours(url: str, args: argparse.Namespace) -> Run:
    client = Bitrix24Client(
        WebhookConnection(url),
        plan=Plan(rate=args.rate, burst=args.burst),
        max_workers=args.workers,
    )
    refusals = []
    client.session.hooks["response"].append(
        lambda response, *a, **k: refusals.append(1) if response.status_code == 503 else None
    )
    started = time.perf_counter()
    results = client.add_contacts(contacts(0, total(args)))
    seconds = time.perf_counter() - started
    failed = sum(1 for result in results if not result.ok)
    created = count_contacts(client)
    client.close()
    credited = args.contacts - failed
    return Run("ours", seconds, len(results), failed, created, credited, len(refusals))


def run_fast_bitrix24_safe(url: str, args: argparse.Namespace) -> Run | str:
    """fast_bitrix24 as a user who was refused at the full rate would set it: `--safe-share` of
    the portal's rate (90% by default) and of its bucket."""
    safe = argparse.Namespace(**vars(args))
    safe.rate = args.rate * args.safe_share
    safe.burst = max(1, int(args.burst * args.safe_share))
    result = run_fast_bitrix24(url, safe, total(args))
    if isinstance(result, Run):
        result.name = f"fast_bitrix24 at {args.safe_share:.0%}"
    return result


def run_fast_bitrix24(url: str, args: argparse.Namespace, count: int | None = None) -> Run | str:
    try:
        from fast_bitrix24 import Bitrix
    except ImportError as error:
        hint = "pip install -r bench/requirements.txt"
        return f"n/a(fast_bitrix24 not importable: {error.name}; {hint})"
    logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)
    bitrix = Bitrix(
        url,
        verbose=False,
        requests_per_second=args.rate,
        request_pool_size=args.burst,
        ssl=False,
    )

    def params(batch: list[dict]) -> list[dict]:
        return [
            {
                "fields": {
                    **item["fields"],
                    "PHONE": [{"VALUE": p, "VALUE_TYPE": "WORK"} for p in item["phones"]],
                    "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in item["emails"]],
                }
            }
            for item in batch
        ]

    logging.getLogger("fast_bitrix24").setLevel(logging.ERROR)  # it resets its own level
    count = total(args) if count is None else count
    items = params(contacts(0, count))
    try:
        started = time.perf_counter()
        answers = bitrix.call("crm.contact.add", items)
        seconds = time.perf_counter() - started
    except Exception as error:  # their failure is a result of the benchmark, not a crash of it
        seconds = time.perf_counter() - started
        checker = Bitrix24Client(WebhookConnection(url), plan=Plan(args.rate, args.burst))
        return (
            f"failed after {seconds:.2f} s ({type(error).__name__}: {error}); the portal holds "
            f"{count_contacts(checker)} of {count} contacts, no ids returned to the caller"
        )
    answers = answers if isinstance(answers, list | tuple) else [answers]
    failed = count - sum(1 for answer in answers if str(answer).isdigit())
    checker = Bitrix24Client(WebhookConnection(url), plan=Plan(rate=args.rate, burst=args.burst))
    created = count_contacts(checker)
    return Run("fast_bitrix24", seconds, count, failed, created, args.contacts - failed)


def on_fresh_portal(args: argparse.Namespace, run: Callable[[str, argparse.Namespace], object]):
    config = {"bitrix24": {"rate_limit_drain": args.rate, "rate_limit_burst": args.burst}}
    with Sandbox(names=("bitrix24",), config=config) as sandbox:
        return run(sandbox.bitrix24_webhook_url(), args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10.0, help="portal drain rate, requests/s")
    parser.add_argument("--burst", type=int, default=50, help="portal bucket size")
    parser.add_argument("--workers", type=int, default=4, help="our batches in flight")
    parser.add_argument("--skip-fast-bitrix24", action="store_true")
    parser.add_argument(
        "--safe-share",
        type=float,
        default=0.9,
        help="share of the portal's rate and bucket fast_bitrix24 is also run at (its users' "
        "way to avoid being refused)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # fast_bitrix24 leaves failed tasks behind; asyncio would log them at exit, after our last line
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    ceiling = args.rate * BATCH
    ours = on_fresh_portal(args, run_ours)
    assert isinstance(ours, Run)
    print(
        f"ours: {ours.pushed} contacts in {ours.seconds:.2f} s, {args.contacts} credited = "
        f"{ours.ops_per_s:.1f} ops/s, ceiling {ceiling:.0f} ({ours.ops_per_s / ceiling:.1%}), "
        f"failed {ours.failed}, portal holds {ours.created}, "
        f"QUERY_LIMIT_EXCEEDED provoked {ours.refused}"
    )
    versus = "n/a(skipped)"
    if not args.skip_fast_bitrix24:
        theirs = on_fresh_portal(args, run_fast_bitrix24)
        if isinstance(theirs, Run):
            print(
                f"fast_bitrix24: {theirs.pushed} contacts in {theirs.seconds:.2f} s = "
                f"{theirs.ops_per_s:.1f} ops/s, failed {theirs.failed}, "
                f"portal holds {theirs.created}"
            )
            versus = f"{ours.ops_per_s / theirs.ops_per_s:.2f}" if theirs.ops_per_s else "inf"
        elif theirs.startswith("n/a"):
            print(f"fast_bitrix24: {theirs}")
            versus = theirs
        else:  # it raised: nothing usable came back, so its useful rate is 0
            print(f"fast_bitrix24: {theirs}")
            versus = "inf"
    safe_versus = "n/a(skipped)"
    if not args.skip_fast_bitrix24:
        safe = on_fresh_portal(args, run_fast_bitrix24_safe)
        if isinstance(safe, Run):
            print(
                f"{safe.name}: {safe.pushed} contacts in {safe.seconds:.2f} s = "
                f"{safe.ops_per_s:.1f} ops/s, failed {safe.failed}, portal holds {safe.created}"
            )
            safe_versus = f"{ours.ops_per_s / safe.ops_per_s:.2f}" if safe.ops_per_s else "inf"
        else:
            print(f"fast_bitrix24 at {args.safe_share:.0%}: {safe}")
            safe_versus = safe if safe.startswith("n/a") else "inf"
    gc.collect()
    print(
        f"BENCH bitrix24_push ops_per_s={ours.ops_per_s:.1f} ceiling={ceiling:.0f} "
        f"ratio={ours.ops_per_s / ceiling:.3f} failed={ours.failed} vs_fast_bitrix24={versus} "
        f"vs_fast_bitrix24_safe={safe_versus}"
    )
    return 0 if ours.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
