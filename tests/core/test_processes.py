"""`connector run` as a small shop runs it: web server, worker and scheduler in one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from connector.services import Services
from tests.support import free_port, make_settings, wait_for


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def process_env(database_url: str, port: int, **settings: str) -> dict[str, str]:
    """The environment of a connector subprocess: its store and port, no `.env` file."""
    return {
        **os.environ,
        "CONNECTOR_DATABASE_URL": database_url,
        "CONNECTOR_HTTP_PORT": str(port),
        "CONNECTOR_ENV_FILE": "/nonexistent",
        **settings,
    }


def test_run_serves_health_runs_tasks_schedules_jobs_and_stops_on_sigterm(tmp_path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    port = free_port()
    services = Services(make_settings(tmp_path / "x", database_url=db))
    env = process_env(db, port, CONNECTOR_LOG_FORMAT="json")
    connector = Path(sys.executable).with_name("connector")
    process = subprocess.Popen([str(connector), "run"], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: get_json(f"http://127.0.0.1:{port}/healthz") is not None)
        task_id = services.queue.enqueue("diagnostic.probe", {"name": "via-run"})
        wait_for(lambda: services.queue.get(task_id)["state"] == "done")
        health = get_json(f"http://127.0.0.1:{port}/healthz")
        assert health["status"] == "ok" and health["dead_letters"] == 0
        scheduled = services.queue.stats(count_done=True)
        assert scheduled.done >= 2  # the probe, and the scheduler's housekeeping job
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any("running on http://127.0.0.1" in line["message"] for line in lines)


def post_order_webhook(port: int, order_id: int, secret: str) -> tuple[int, dict]:
    from connector.systems.woocommerce.webhooks import signature

    body = json.dumps({"id": order_id, "date_modified_gmt": "2026-11-25T10:00:00"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/woocommerce",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": signature(body, secret),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_serve_stores_webhooks_from_two_processes_and_stops_on_sigterm(tmp_path):
    """`connector serve` with two server processes writing one SQLite file (they take turns
    on its lock file): every webhook is stored once, and SIGTERM stops both processes."""
    from concurrent.futures import ThreadPoolExecutor

    db = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    env = process_env(
        db,
        port,
        CONNECTOR_HTTP_WORKERS="2",
        CONNECTOR_HTTP_THREADS="4",
        CONNECTOR_WOOCOMMERCE_WEBHOOK_SECRET="s3cret",
    )
    connector = Path(sys.executable).with_name("connector")
    process = subprocess.Popen([str(connector), "serve"], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: get_json(f"http://127.0.0.1:{port}/healthz") is not None)
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(
                pool.map(lambda n: post_order_webhook(port, n % 60 + 1, "s3cret"), range(120))
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0
    assert all(status == 200 for status, _ in answers)
    outcomes = [body["status"] for _, body in answers]
    assert outcomes.count("accepted") == 60 and outcomes.count("duplicate") == 60
    services = Services(make_settings(tmp_path / "x", database_url=db))
    stats = services.queue.stats()
    assert stats.queued + stats.waiting == 60
