"""Bitrix24's two limits, kept on our side so the portal never has to refuse us.

1. The request-rate leaky bucket per portal (`connector.http.LeakyBucket`): 50 burst and
   2 req/s drain on ordinary plans, 250 and 5 on Enterprise (docs `limits.md`). The client the
   services build keeps its level in the store (`Plan.shared_bucket`), so every worker process
   draws from one bucket, as the portal counts.
2. The per-method operating-time budget: every answer's `time.operating` is the run time
   this method has used in the last 10 minutes, and `time.operating_reset_at` is when the
   oldest minute drops out. Over the limit (480 s in the docs' example) the method gets
   `429 OPERATION_TIME_LIMIT`. `operating` is an absolute value, never a duration to add up
   (fast_bitrix24 sums it and stalls), and it may be absent (research/bitrix24.md 2.2).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.http import LeakyBucket

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from connector.store.buckets import StoredBucket


@dataclass(frozen=True)
class Plan:
    """A portal's request limit: `burst` requests at once, draining `rate` per second."""

    rate: float = 2.0
    burst: int = 50
    jitter: float = 0.1

    def bucket(self, **kwargs: Any) -> LeakyBucket:
        """Our twin of the portal's bucket, a little smaller so that requests reaching the portal
        up to `jitter` seconds out of order still fit (one slot at least). It limits this
        process alone."""
        return LeakyBucket(self.rate, self.our_burst, **kwargs)

    def shared_bucket(self, engine: Engine, name: str, **kwargs: Any) -> StoredBucket:
        """The same twin with its level in the store under `name`: every process that talks
        to the portal (several workers, machines on one PostgreSQL) takes its slots from it."""
        from connector.store.buckets import StoredBucket

        return StoredBucket(engine, name, self.rate, self.our_burst, **kwargs)

    @property
    def our_burst(self) -> int:
        headroom = max(1, math.ceil(self.rate * self.jitter))
        return max(1, self.burst - headroom)


STANDARD = Plan(rate=2.0, burst=50)
ENTERPRISE = Plan(rate=5.0, burst=250)


class OperatingBudget:
    """Pauses one method (not the whole portal) when its operating time nears the limit."""

    def __init__(
        self,
        limit: float = 480.0,
        margin: float = 10.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.margin = margin
        self._clock = clock
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_for(self, method: str) -> float:
        """Seconds before `method` may be called again (0 when it is free)."""
        with self._lock:
            until = self._blocked_until.get(method.lower(), 0.0)
        return max(0.0, until - self._clock())

    def record(self, method: str, timing: Mapping[str, Any] | None) -> None:
        """Reads `time.operating` / `operating_reset_at` from an answer to `method`."""
        if not isinstance(timing, Mapping):
            return
        operating = _float(timing.get("operating"))
        reset_at = _float(timing.get("operating_reset_at"))
        if operating is None or operating < self.limit - self.margin:
            return
        self.block(method, reset_at)

    def block(self, method: str, reset_at: float | None = None, *, default: float = 60.0) -> float:
        """Stops `method` until `reset_at` (+1 s), or for `default` seconds when unknown."""
        now = self._clock()
        until = (reset_at + 1.0) if reset_at and reset_at > now else now + default
        with self._lock:
            key = method.lower()
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
            return self._blocked_until[key] - now

    def reset_hint(self, timing: Mapping[str, Any] | None) -> float | None:
        return _float(timing.get("operating_reset_at")) if isinstance(timing, Mapping) else None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
