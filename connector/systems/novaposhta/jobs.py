"""Nova Poshta's scheduled job: API 2.0 has no push at all, so open parcels are read on a
schedule (connector/delivery/tracking.py reads the parcels not yet in a final state)."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="delivery-poll-novaposhta",
        kind="delivery.poll_novaposhta",
        every_seconds=900,
        needs=("novaposhta_api_key",),
    ),
]
