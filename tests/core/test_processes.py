"""`connector run` as a small shop runs it: web server, worker and scheduler in one process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from connector.services import Services
from tests.support import make_settings, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_run_serves_health_runs_tasks_schedules_jobs_and_stops_on_sigterm(tmp_path):
    db = f"sqlite:///{tmp_path / 'run.db'}"
    port = free_port()
    services = Services(make_settings(tmp_path / "x", database_url=db))
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": db,
        "CONNECTOR_HTTP_PORT": str(port),
        "CONNECTOR_LOG_FORMAT": "json",
        "CONNECTOR_ENV_FILE": "/nonexistent",
    }
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
