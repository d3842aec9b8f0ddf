"""Bitrix24's scheduled jobs: it never re-sends an event, so deals and contacts are re-read on a
schedule, and an app connection's offline event queue is drained. Each job only enqueues its
`sync.poll` task once per time bucket; the lookbacks overlap on purpose (dedupe keys drop
doubles)."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="reconcile-bitrix24-deals",
        kind="sync.poll",
        every_seconds=600,
        payload={"system": "bitrix24", "stream": "deals", "lookback": 900},
        needs=("bitrix24",),
    ),
    Job(
        name="reconcile-bitrix24-contacts",
        kind="sync.poll",
        every_seconds=600,
        payload={"system": "bitrix24", "stream": "contacts", "lookback": 900},
        needs=("bitrix24",),
    ),
    Job(
        # offline events exist only for an app connection (event.bind needs an admin app)
        name="read-bitrix24-offline-events",
        kind="sync.poll",
        every_seconds=60,
        payload={"system": "bitrix24", "stream": "offline_events"},
        needs=("bitrix24_client_id",),
    ),
]
