"""A leaky bucket whose level lives in the store, shared by every process that uses it.

`connector.http.LeakyBucket` keeps its level in memory, so it limits one process. A portal's
limit is one bucket for every client of it: two `connector worker` processes that each kept
their own would each spend the portal's whole rate, and the portal would refuse the excess
(`QUERY_LIMIT_EXCEEDED`, a pause for every thread). Here the level is a row of `rate_buckets`,
read and written in one short write transaction per reservation (SQLite takes them one at a
time; on PostgreSQL an advisory lock on the bucket's name does), so any number of processes, on
any number of machines sharing a PostgreSQL store, take their slots from one bucket.

The cost is one write per request slot, never per command: the Bitrix24 dispatcher reserves once
per `batch` call, a few times a second at most. The level is drained by wall-clock time, the only
clock processes share (machines sharing a store keep it with NTP; a skew of a few tens of
milliseconds is within the bucket's jitter headroom, `Plan.jitter`). If the store does not
answer, the process limits itself alone, in memory, until it does: the portal's own bucket is
the backstop (its refusal fills ours). The same happens for one reservation when SQLite's write
turn is not free within a second, or is held by the asking thread itself (a call made inside a
write transaction), so a reservation can never wait on its own caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from connector.http import LeakyBucket
from connector.store import reading, take_turns
from connector.store.tables import rate_buckets

log = logging.getLogger("connector.store")

NAME_LENGTH = 200  # rate_buckets.name
TURN_WAIT = 1.0  # seconds a reservation waits for SQLite's write turn before going alone


class StoredBucket(LeakyBucket):
    """`LeakyBucket` with its level in `rate_buckets` under `name` (one row per portal)."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(rate, burst, clock=clock, sleep=sleep)
        self.engine = engine
        self.name = name[:NAME_LENGTH]
        self._alone = False  # the store failed: limited in memory until it answers again

    def level(self) -> float:
        """The bucket's level now (0 for a bucket never used)."""
        with reading(self.engine) as connection:
            row = self._row(connection)
        return self.drained(row.level, row.updated_at, self._clock()) if row else 0.0

    def _update(self, change: Callable[[float], float]) -> float:
        try:
            wait = self._update_stored(change)
        except SQLAlchemyError as error:
            if not self._alone:
                log.warning(
                    "rate bucket %s: the store did not answer (%s); this process limits "
                    "itself alone until it does",
                    self.name,
                    error,
                )
            self._alone = True
            return super()._update(change)
        if self._alone:
            log.info("rate bucket %s: shared through the store again", self.name)
            self._alone = False
        return wait

    def _update_stored(self, change: Callable[[float], float]) -> float:
        # A request slot never waits long for SQLite's write turn: the thread asking may be a
        # dispatcher's sender whose caller holds the turn while it waits for its answer.
        with (
            self.engine.connect().execution_options(write_turn_timeout=TURN_WAIT) as connection,
            connection.begin(),
        ):
            take_turns(connection, [f"rate_bucket:{self.name}"])
            row = self._row(connection)
            now = self._clock()
            level = change(self.drained(row.level, row.updated_at, now) if row else 0.0)
            values = {"level": level, "updated_at": now}
            if row is None:
                connection.execute(insert(rate_buckets).values(name=self.name, **values))
            else:
                connection.execute(
                    update(rate_buckets).where(rate_buckets.c.name == self.name).values(values)
                )
        return self.wait_at(level)

    def _row(self, connection: Connection) -> Any:
        """The bucket's stored level and when it was written, None before its first use."""
        query = select(rate_buckets.c.level, rate_buckets.c.updated_at)
        return connection.execute(query.where(rate_buckets.c.name == self.name)).first()
