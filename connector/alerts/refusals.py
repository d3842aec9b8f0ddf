"""A durable, cheap count of webhook deliveries refused as unauthentic (401).

`/metrics` counts refusals per process, in memory; the alerts need them in the store, because
the scheduler that evaluates them may be another process. Writing one row per refusal would
let a flood of forged requests turn into a flood of writes, so a process counts in memory per
(source, minute) and a timer thread adds the counts to `webhook_refusals` at most once per
`flush_seconds`: a flood costs one small write per interval, and the request thread never
writes. Counts of the last interval are lost if the process dies (they are only a signal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import SQLAlchemyError

from connector.store.tables import webhook_refusals

log = logging.getLogger("connector.alerts")

FLUSH_SECONDS = 5.0
KEEP_SECONDS = 7 * 86400.0  # older minutes are dropped by the alert evaluation


class RefusalCounter:
    """Counts refusals in memory and writes them every `flush_seconds` (one per process)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float] = time.time,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.flush_seconds = flush_seconds
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def count(self, source: str) -> None:
        """One refused delivery of `source`; the write happens later, in a timer thread."""
        with self._lock:
            self._counts[(source[:30], int(self.clock() // 60))] += 1
            if self._timer is None:
                self._timer = threading.Timer(self.flush_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Adds the counts so far to the store (kept for the next try when the store fails)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._timer = None
        if not counts:
            return
        try:
            with self.engine.begin() as connection:
                for (source, minute), number in sorted(counts.items()):
                    added = connection.execute(
                        update(webhook_refusals)
                        .where(
                            webhook_refusals.c.source == source,
                            webhook_refusals.c.minute == minute,
                        )
                        .values(count=webhook_refusals.c.count + number)
                    ).rowcount
                    if not added:
                        connection.execute(
                            webhook_refusals.insert().values(
                                source=source, minute=minute, count=number
                            )
                        )
        except SQLAlchemyError as error:
            log.warning("could not record refused webhooks (kept for the next try): %s", error)
            with self._lock:
                self._counts.update(counts)

    def close(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()


def purge_refusals(engine: Engine, now: float, keep_seconds: float = KEEP_SECONDS) -> int:
    """Drops the counts of minutes older than `keep_seconds`."""
    with engine.begin() as connection:
        return connection.execute(
            delete(webhook_refusals).where(
                webhook_refusals.c.minute < int((now - keep_seconds) // 60)
            )
        ).rowcount
