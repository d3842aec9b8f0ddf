"""The two Bitrix24 limits: the per-portal leaky bucket and the per-method operating-time budget.

https://apidocs.bitrix24.com/limits.html: every request adds 1 to a counter that drains at Y/s; when
it would exceed X the request is refused with 503 QUERY_LIMIT_EXCEEDED (a batch counts as one
request). Each method's run time is summed per credential over ten one-minute baskets; once the sum
reaches the limit the next call of that method gets 429 OPERATION_TIME_LIMIT until the oldest basket
drops out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LeakyBucket:
    """Counter that drains ``drain`` per second and refuses a request that would lift it over
    ``burst``.
    """

    burst: int
    drain: float
    level: float = 0.0
    updated_at: float | None = None

    def _drain_to(self, now: float) -> None:
        if self.updated_at is not None and now > self.updated_at:
            self.level = max(0.0, self.level - (now - self.updated_at) * self.drain)
        if self.updated_at is None or now > self.updated_at:
            self.updated_at = now

    def try_take(self, now: float) -> bool:
        """Count one request; False (and nothing counted) when it would exceed the burst."""
        self._drain_to(now)
        # a tiny tolerance: 0.5 s at 2/s must free exactly one slot despite float rounding
        if self.level + 1 > self.burst + 1e-9:
            return False
        self.level += 1
        return True

    def snapshot(self, now: float) -> dict[str, float]:
        self._drain_to(now)
        return {"level": round(self.level, 6), "burst": self.burst, "drain": self.drain}


@dataclass
class _Basket:
    opened_at: float
    seconds: float = 0.0


@dataclass
class OperatingBudget:
    """Run time of one method for one credential, in one-minute baskets kept ``window`` seconds."""

    limit: float
    window: float = 600.0
    baskets: list[_Basket] = field(default_factory=list)

    def _expire(self, now: float) -> None:
        self.baskets = [b for b in self.baskets if now < b.opened_at + self.window]

    def used(self, now: float) -> float:
        self._expire(now)
        return sum(b.seconds for b in self.baskets)

    def blocked(self, now: float) -> bool:
        """Checked before a call: the call crossing the limit still runs, the next is refused."""
        return self.used(now) >= self.limit

    def charge(self, now: float, seconds: float) -> None:
        self._expire(now)
        if not self.baskets or now >= self.baskets[-1].opened_at + 60:
            self.baskets.append(_Basket(opened_at=now))
        self.baskets[-1].seconds += seconds

    def reset_at(self, now: float) -> int:
        """When the oldest basket drops out (``time.operating_reset_at``)."""
        self._expire(now)
        if not self.baskets:
            return int(now + self.window)
        return int(self.baskets[0].opened_at + self.window)
