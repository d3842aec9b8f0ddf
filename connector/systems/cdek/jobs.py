"""CDEK's scheduled job: a backstop poll of open parcels, since CDEK never re-sends a webhook it
failed to deliver (connector/delivery/tracking.py reads them)."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        # a backstop: webhooks bring most CDEK statuses within seconds
        name="delivery-poll-cdek",
        kind="delivery.poll_cdek",
        every_seconds=1800,
        needs=("cdek_client_id",),
    ),
]
