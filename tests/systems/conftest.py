"""Fixtures of the system-client tests: the official example payloads saved under shared/specs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def specs_dir() -> Path | None:
    """`../shared/specs` beside the repo, or `CONNECTOR_SPECS_DIR`; None when neither exists."""
    configured = os.environ.get("CONNECTOR_SPECS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "specs")
    return next((path for path in candidates if path.is_dir()), None)


@pytest.fixture
def spec():
    """Loads one example payload: `spec("bitrix24/responses/batch.response.json")`."""
    root = specs_dir()
    if root is None:
        pytest.skip("shared/specs not found (set CONNECTOR_SPECS_DIR)")

    def load(relative: str) -> Any:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else text

    return load


class FakeClock:
    """A clock and a sleep that advance together, so limiter tests take no real time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
