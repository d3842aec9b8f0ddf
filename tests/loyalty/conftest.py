"""Fixtures of the loyalty tests: a ledger on the temporary store, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from connector.loyalty import LedgerProvider, LoyaltyRules

DAY = 86400.0
START = 1_800_000_000.0


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0, seconds: float = 0) -> None:
        self.now += days * DAY + seconds


RULES = LoyaltyRules()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rules() -> LoyaltyRules:
    return replace(RULES, tier_percents={})


@pytest.fixture
def ledger(services, rules, clock) -> LedgerProvider:
    services.queue.clock = clock
    return LedgerProvider(services.engine, rules, services.queue, clock)
