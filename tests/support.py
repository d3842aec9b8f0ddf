"""Helpers for tests of every area."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from connector.config import Settings, load_settings


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings on a SQLite store inside `tmp_path`, with `overrides` as CONNECTOR_* values."""
    env = {"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}"}
    env.update({f"CONNECTOR_{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(env=env, env_file=None)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Polls until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
