"""Fixtures of the alert tests: services on a temporary store with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.config import Settings
from connector.services import Services

START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    built = Services(settings)
    built.queue.clock = clock
    yield built
    built.close()
