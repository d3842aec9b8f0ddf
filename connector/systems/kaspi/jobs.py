"""Kaspi's scheduled job: a `sync.poll` of its orders every minute; the stream itself keeps the
pace of CONNECTOR_KASPI_POLL_MINUTES (a tick sooner than that after the last poll reads nothing),
so the setting works without a restart of the scheduler."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="poll-kaspi-orders",
        kind="sync.poll",
        every_seconds=60,
        payload={"system": "kaspi", "stream": "orders", "lookback": 600},
        needs=("kaspi_token",),
    ),
]
