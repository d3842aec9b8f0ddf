"""`connector run` stops on SIGTERM while clients keep connections open (a webhook sender's
pooled session, a client that connected and said nothing): waitress's own close left its loop
running for as long as any of them stayed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import free_port, wait_for


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_sigterm_stops_run_while_a_pooled_session_and_a_silent_client_hold_connections(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env |= {
        "CONNECTOR_HTTP_PORT": str(port),
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_HTTP_READ_TIMEOUT": "60",  # so that no idle time-out closes them for us
        "CONNECTOR_ENV_FILE": str(tmp_path / "none.env"),
    }
    connector = str(Path(sys.executable).with_name("connector"))
    process = subprocess.Popen(
        [connector, "run"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    health = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_for(lambda: _answers(health), timeout=30)
        with requests.Session() as pooled, socket.create_connection(("127.0.0.1", port)):
            assert pooled.get(health, timeout=5).status_code == 200  # its connection stays open
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=20)
        assert process.returncode == 0, errors[-2000:]
        assert "worker" in errors and "stopped" in errors
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
