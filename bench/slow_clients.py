"""Slow clients against `connector serve` (granian) and `connector run` (waitress), loopback.

For each server: `/healthz` latency (a new connection per request, as a monitor makes it) with
no attack, then with N connections open that each sent a webhook's headers with
`Content-Length: 100` and one byte of body, and stall. "survives" is the largest N at which
every `/healthz` answered within a second. Then how long the stalled connections stayed open
(the read time-out, `CONNECTOR_HTTP_READ_TIMEOUT`, with its 408).

Before the guard, 16 such connections stopped every route of `serve` (one per thread) and
100 stopped `run` (waitress's default connection limit), each until the clients gave up.

Last, what the guard costs: server CPU per request of a bare Flask route under granian's own
WSGI interface against the same route behind `WholeRequestWSGI` (granian's RSGI interface),
with waitress for scale.

Ends with `BENCH slow_clients_serve ...`, `BENCH slow_clients_run ...` and
`BENCH slow_clients_guard_cost ...` lines.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from connector_sandbox.wiring import free_port, wait_listening

STALLED_HEAD = (
    b"POST /webhooks/woocommerce HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
)
NAN = float("nan")
BOUND_S = 1.0  # a /healthz slower than this counts as a failure
BARE_APP = textwrap.dedent(
    """
    from flask import Flask
    from connector.web_server import WholeRequestWSGI

    app = Flask("bare")

    @app.post("/hook")
    def ok():
        return {"status": "accepted"}, 200

    guarded = WholeRequestWSGI(app, threads=8, read_timeout=10, max_body_bytes=1 << 20)
    """
)


def healthz_latencies(port: int, count: int) -> list[float | None]:
    """Seconds per `/healthz`, None for one that failed or took longer than BOUND_S."""
    out: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, timeout=BOUND_S) as response:
                response.read()
            out.append(time.perf_counter() - started)
        except OSError:
            out.append(None)
    return out


def percentiles(samples: list[float | None]) -> tuple[float, float, int]:
    """p50 and p99 in ms of the answered ones, and how many failed."""
    answered = sorted(s * 1000 for s in samples if s is not None)
    failed = len(samples) - len(answered)
    if not answered:
        return float("nan"), float("nan"), failed
    p99 = answered[min(len(answered) - 1, int(len(answered) * 0.99))]
    return statistics.median(answered), p99, failed


def open_stalled(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(STALLED_HEAD)
        sockets.append(sock)
    return sockets


def seconds_until_closed(
    sockets: list[socket.socket], started: float, limit: float
) -> tuple[list[float], int]:
    """When (from `started`) the server closed each connection, and how many got a 408."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed: list[float] = []
    got_408 = 0
    while len(closed) < len(sockets) and time.monotonic() - started < limit:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            got_408 += data.startswith(b"HTTP/1.1 408")
            if not data or data.startswith(b"HTTP/1.1 408"):
                closed.append(time.monotonic() - started)
                selector.unregister(sock)
    selector.close()
    for sock in sockets:
        sock.close()
    return closed, got_408


def attack(command: str, counts: list[int], read_timeout: float, samples: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix="bench-slow-"))
    port = free_port()
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": f"sqlite:///{folder / 'connector.db'}",
        "CONNECTOR_HTTP_PORT": str(port),
        "CONNECTOR_HTTP_READ_TIMEOUT": str(read_timeout),
        "CONNECTOR_LOG_LEVEL": "error",
        "CONNECTOR_ENV_FILE": "/nonexistent",
    }
    connector = Path(sys.executable).with_name("connector")
    server = subprocess.Popen(
        [str(connector), command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    survives = 0
    try:
        wait_listening(port)
        healthz_latencies(port, 20)  # warm-up
        quiet = percentiles(healthz_latencies(port, samples))
        print(
            f"connector {command}: /healthz without attack p50 {quiet[0]:.1f} ms "
            f"p99 {quiet[1]:.1f} ms, {quiet[2]} failed"
        )
        attacked = quiet
        closed: list[float] = []
        got_408 = 0
        for count in counts:
            opened = time.monotonic()
            stalled = open_stalled(port, count)
            time.sleep(0.3)
            result = percentiles(healthz_latencies(port, samples))
            print(
                f"  {count:5d} stalled: /healthz p50 {result[0]:.1f} ms p99 {result[1]:.1f} ms,"
                f" {result[2]} of {samples} failed or over {BOUND_S:g} s"
            )
            if result[2] == 0:
                survives, attacked = count, result
                closed, got_408 = seconds_until_closed(stalled, opened, read_timeout + 30)
                first, last = min(closed, default=NAN), max(closed, default=NAN)
                print(
                    f"         closed {len(closed)} of {count} after {first:.1f}-{last:.1f} s"
                    f" ({got_408} with a 408)"
                )
            else:
                for sock in stalled:
                    sock.close()
                break
        return (
            f"BENCH slow_clients_{command} survives={survives} "
            f"quiet_p50_ms={quiet[0]:.1f} quiet_p99_ms={quiet[1]:.1f} "
            f"attacked_p50_ms={attacked[0]:.1f} attacked_p99_ms={attacked[1]:.1f} "
            f"closed_after_s={max(closed, default=NAN):.1f} read_timeout_s={read_timeout:g}"
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


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


def keep_alive_posts(port: int, count: int) -> None:
    """`count` small POSTs, one after the other, on one kept-alive connection."""
    body = b'{"id": 1}'
    request = (
        b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(count):
            sock.sendall(request)
            length = 0
            status = reader.readline()
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reader.read(length)
            assert b" 200 " in status, status


def server_command(name: str, port: int, folder: Path) -> list[str]:
    if name == "waitress":
        return [sys.executable, "-m", "waitress", "--threads=8", f"--port={port}", "bare_app:app"]
    interface, target = ("wsgi", "bare_app:app") if name == "wsgi" else ("rsgi", "bare_app:guarded")
    extra = ["--blocking-threads", "8"] if interface == "wsgi" else []
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--http", "1",
        "--port", str(port), "--log-level", "error", *extra, target,
    ]  # fmt: skip


def guard_cost(requests: int) -> str:
    """Server CPU per request of a bare Flask route: granian's WSGI interface (no guard),
    granian RSGI + WholeRequestWSGI (what `serve` runs), and waitress for scale."""
    folder = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    (folder / "bare_app.py").write_text(BARE_APP)
    results = {}
    for name in ("wsgi", "guarded", "waitress"):
        port = free_port()
        server = subprocess.Popen(
            server_command(name, port, folder),
            cwd=folder,
            env={**os.environ, "PYTHONPATH": f"{folder}:{Path(__file__).resolve().parents[1]}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(port)
            keep_alive_posts(port, 500)  # warm-up
            best = float("inf")
            for _ in range(3):  # the least of three: the machine may be shared
                before, started = cpu_seconds(server.pid), time.perf_counter()
                keep_alive_posts(port, requests)
                elapsed = time.perf_counter() - started
                cpu = (cpu_seconds(server.pid) - before) * 1000 / requests
                best = min(best, cpu)
                print(
                    f"  {name:8s} {cpu:.3f} ms CPU/request, {requests / elapsed:.0f} requests/s"
                    " (one connection, one request at a time)"
                )
            results[name] = best
        finally:
            server.terminate()
            server.wait(timeout=60)
    return (
        f"BENCH slow_clients_guard_cost wsgi_cpu_ms={results['wsgi']:.3f} "
        f"guarded_cpu_ms={results['guarded']:.3f} waitress_cpu_ms={results['waitress']:.3f} "
        f"guarded_vs_wsgi={results['guarded'] / results['wsgi']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve-counts", default="16,64,256,512,900")
    parser.add_argument("--run-counts", default="100,200,512,900")
    parser.add_argument("--read-timeout", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=100, help="/healthz calls per step")
    parser.add_argument("--requests", type=int, default=3000, help="per guard-cost round")
    args = parser.parse_args()
    lines = [
        attack(
            "serve", [int(n) for n in args.serve_counts.split(",")], args.read_timeout, args.samples
        ),
        attack(
            "run", [int(n) for n in args.run_counts.split(",")], args.read_timeout, args.samples
        ),
    ]
    print("guard cost (bare Flask route under granian):")
    lines.append(guard_cost(args.requests))
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
