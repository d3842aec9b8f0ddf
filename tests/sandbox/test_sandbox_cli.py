"""`connector sandbox` prints where each emulator is, writes the env file and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import requests

from connector.cli.sandbox import _ports, command
from connector.config import load_settings


def test_ports_follow_the_base_and_the_overrides() -> None:
    assert _ports(9000, ())["bitrix24"] == 9001
    assert _ports(9000, ("mailchimp=9555",))["mailchimp"] == 9555
    assert set(_ports(0, ()).values()) == {0}
    with pytest.raises(click.BadParameter):
        _ports(9000, ("nothing=1",))


def test_the_command_runs_until_sigterm_and_writes_the_env_file(tmp_path: Path) -> None:
    assert command.name == "sandbox"
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-c", "from connector.cli import main; main()", "sandbox",
         "--port-base", "0", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        settings = load_settings(env={}, env_file=env_file)
        ping = requests.get(
            f"{settings.mailchimp_api_url}/ping", auth=("x", settings.mailchimp_api_key), timeout=5
        )
        assert ping.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "/3.0" in out and "/_sandbox/state" in out and "api_key" in out
    assert "sandbox stopped" in err
