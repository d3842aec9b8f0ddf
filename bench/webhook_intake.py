"""Webhook intake: signed WooCommerce order webhooks at increasing rates into `connector serve`.

The same load goes, in the same run, to a bare Flask route that only answers 200 under the same
WSGI server (granian), so `vs_bare` compares what storing durably costs. The load generator is
open-loop (asyncio, keep-alive connections, each request sent at its scheduled time) and latency
is measured from the scheduled time, so a slow server cannot hide its queueing. A rate counts as
sustained when every request got its 2xx, the achieved rate is within 5% of the target and p99
stays under 50 ms (the target's latency bound).
Ends with `BENCH webhooks per_s=... p50_ms=... p99_ms=... vs_bare=...` for the highest
sustained rate; the bare route's ladder grows by `--step` until it saturates, so `vs_bare` compares
with its ceiling (`bare_saturated=true`). Target: 2,000 webhooks/s durable with p99 under 50 ms
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from connector.config import Settings
from connector.systems.woocommerce.webhooks import signature
from connector_sandbox.wiring import free_port, wait_listening

SECRET = "bench-secret"
P99_BOUND_MS = 50.0
MAX_RATE = 20_000.0
BARE_APP = textwrap.dedent(
    """
    from flask import Flask
    app = Flask("bare")

    @app.post("/webhooks/woocommerce")
    def ok():
        return {"status": "accepted"}, 200
    """
)


@dataclass
class Round:
    target: float
    achieved: float
    p50: float
    p99: float
    errors: int

    @property
    def sustained(self) -> bool:
        return self.errors == 0 and self.achieved >= self.target * 0.95 and self.p99 < P99_BOUND_MS


def build_requests(count: int, first_id: int) -> list[bytes]:
    """Distinct signed deliveries (new id and modified time each, so none is a duplicate)."""
    requests = []
    for n in range(count):
        order = {
            "id": first_id + n,
            "status": "processing",
            "currency": "EUR",
            "total": "49.90",
            "date_modified_gmt": f"2026-11-25T10:{n // 3600 % 60:02d}:{n % 60:02d}",
            "billing": {"email": f"shopper{n}@example.com", "phone": "+4915112345678"},
            "line_items": [{"sku": "SKU-1", "quantity": 1, "total": "49.90"}],
        }
        body = json.dumps(order).encode()
        head = (
            "POST /webhooks/woocommerce HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nX-WC-Webhook-Topic: order.updated\r\n"
            "X-WC-Webhook-Resource: order\r\nX-WC-Webhook-Event: updated\r\n"
            f"X-WC-Webhook-Delivery-ID: {first_id + n}\r\n"
            f"X-WC-Webhook-Signature: {signature(body, SECRET)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append(head + body)
    return requests


async def read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def drive(port: int, payloads: list[bytes], rate: float, connections: int) -> Round:
    """Sends `payloads` at `rate`/s spread over keep-alive connections; open loop."""
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    errors = 0

    async def connection(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(index, len(payloads), connections):
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(payloads[n])
            status = await read_response(reader)
            latencies.append((time.perf_counter() - scheduled) * 1000)
            errors += not 200 <= status < 300
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return Round(
        target=rate,
        achieved=len(payloads) / elapsed,
        p50=latencies[len(latencies) // 2],
        p99=latencies[max(0, int(len(latencies) * 0.99) - 1)],
        errors=errors,
    )


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc (Linux)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def run_rounds(
    port: int,
    server_pid: int,
    rates: list[float],
    seconds: float,
    connections: int,
    extend_by: float = 0.0,
    give_up_after: int = 2,
) -> list[Round]:
    """One round per rate of the ladder; with `extend_by`, the ladder grows by that step while
    the last round was sustained (until the server saturates). Stops after `give_up_after`
    unsustained rounds in a row."""
    # A warm-up of two seconds, not counted: first requests pay for imports, threads, connections.
    asyncio.run(drive(port, build_requests(int(rates[0] * 2), 10_000_000), rates[0], connections))
    rounds, next_id, ladder, failed = [], 1, list(rates), 0
    while ladder:
        rate = ladder.pop(0)
        count = int(rate * seconds)
        payloads = build_requests(count, next_id)
        next_id += count
        cpu_before = cpu_seconds(server_pid)
        result = asyncio.run(drive(port, payloads, rate, connections))
        cpu_ms = (cpu_seconds(server_pid) - cpu_before) * 1000 / count
        rounds.append(result)
        failed = 0 if result.sustained else failed + 1
        if not ladder and extend_by and result.sustained and rate < MAX_RATE:
            ladder.append(rate + extend_by)
        print(
            f"  {rate:6.0f}/s -> {result.achieved:6.0f}/s  p50 {result.p50:6.1f} ms  "
            f"p99 {result.p99:7.1f} ms  errors {result.errors}  "
            f"server CPU {cpu_ms:.2f} ms/webhook"
        )
        time.sleep(0.5)
        if failed >= give_up_after:
            break
    return rounds


def best(rounds: list[Round]) -> Round:
    sustained = [r for r in rounds if r.sustained]
    return max(sustained, key=lambda r: r.target) if sustained else rounds[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="500,1000,1500,2000,2500")
    parser.add_argument(
        "--step",
        type=float,
        default=500.0,
        help="grow the bare route's ladder by this step until it saturates (0: no growth)",
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=int,
        default=Settings.http_workers,
        help="server processes of both servers (default: CONNECTOR_HTTP_WORKERS's default)",
    )
    parser.add_argument("--database-url", help="the store (default: a new SQLite file)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    folder = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    ours_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": args.database_url or f"sqlite:///{folder / 'connector.db'}",
        "CONNECTOR_HTTP_PORT": str(ours_port),
        "CONNECTOR_HTTP_THREADS": str(args.threads),
        "CONNECTOR_HTTP_WORKERS": str(args.workers),
        "CONNECTOR_WOOCOMMERCE_WEBHOOK_SECRET": SECRET,
        "CONNECTOR_LOG_LEVEL": "error",
        "CONNECTOR_ENV_FILE": "/nonexistent",
    }
    connector = Path(sys.executable).with_name("connector")
    ours = subprocess.Popen([str(connector), "serve"], env=env)
    (folder / "bare_app.py").write_text(BARE_APP)
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--port",
            str(bare_port),
            "--workers",
            str(args.workers),
            "--blocking-threads",
            str(args.threads),
            "--backlog",
            "2048",
            "--log-level",
            "error",
            "--working-dir",
            str(folder),
            "bare_app:app",
        ]
    )
    try:
        wait_listening(ours_port)
        wait_listening(bare_port)
        # The bare route first: its ladder grows until it saturates, and ours climbs the same.
        print("bare Flask route (answers 200, stores nothing):")
        bare_rounds = run_rounds(
            bare_port, bare.pid, rates, args.seconds, args.connections, extend_by=args.step
        )
        print("connector serve (store + enqueue per webhook):")
        ladder = [r.target for r in bare_rounds]
        ours_rounds = run_rounds(ours_port, ours.pid, ladder, args.seconds, args.connections)
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait(timeout=20)
    top, bare_top = best(ours_rounds), best(bare_rounds)
    saturated = not bare_rounds[-1].sustained  # the bare route's ceiling was found
    print(f"highest sustained rate: ours {top.target:.0f}/s, bare {bare_top.target:.0f}/s")
    print(
        f"BENCH webhooks per_s={top.achieved:.0f} p50_ms={top.p50:.1f} p99_ms={top.p99:.1f} "
        f"vs_bare={top.achieved / bare_top.achieved:.2f} bare_per_s={bare_top.achieved:.0f} "
        f"bare_saturated={str(saturated).lower()}"
    )


if __name__ == "__main__":
    main()
