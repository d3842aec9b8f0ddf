"""Fixtures of the system-client tests: the official example payloads saved under specs/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import SPECS


def specs_dir() -> Path:
    """The repo's `specs/` folder: official example payloads, copied in with their sources."""
    return SPECS


@pytest.fixture
def spec():
    """Loads one example payload: `spec("bitrix24/responses/batch.response.json")`."""
    root = specs_dir()

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
