"""The README's sandbox steps, played as written (on free ports, in a scratch folder)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def readme_sandbox_steps() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Try it against the sandbox", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the sandbox section has a sh block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_starts_the_connector_before_it_registers_the_mailchimp_webhook() -> None:
    steps = readme_sandbox_steps()
    run = next(i for i, step in enumerate(steps) if step.endswith("connector run &"))
    setups = [i for i, step in enumerate(steps) if " setup " in step]
    assert setups and all(i > run for i in setups)


def test_the_readme_sandbox_steps_work_in_their_order(tmp_path: Path) -> None:
    connector = str(Path(sys.executable).with_name("connector"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env |= {
        "CONNECTOR_HTTP_PORT": str(port),
        "CONNECTOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
    }
    background: list[subprocess.Popen[str]] = []
    try:
        for step in readme_sandbox_steps():
            words = shlex.split(step.rstrip("&"))
            assignments = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
            argv = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
            assert argv[0] == ".venv/bin/connector"
            argv[0] = connector
            if argv[1] == "sandbox":
                argv[2:2] = ["--port-base", "0"]  # free ports instead of 8701..8706
            step_env = env | assignments
            if step.endswith("&"):
                process = subprocess.Popen(
                    argv, cwd=tmp_path, env=step_env, text=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
                background.append(process)
                if argv[1] == "sandbox":
                    wait_for(lambda: (tmp_path / ".env.sandbox").exists(), timeout=30)
                else:
                    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=30)
                continue
            done = subprocess.run(
                argv, cwd=tmp_path, env=step_env, text=True, capture_output=True, timeout=120
            )
            assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
            assert "setup done" in done.stdout
    finally:
        for process in reversed(background):
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False
