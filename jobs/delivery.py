"""Delivery polls: Nova Poshta 2.0 has no push at all, and CDEK never re-sends a webhook it
failed to deliver, so both carriers' open parcels are read on a schedule
(research/shop_delivery_loyalty.md 0.6). Each job only enqueues its task once per time bucket;
the task (connector/delivery/tracking.py) reads parcels not yet in a final state.
"""

from jobs import Job

JOBS = [
    Job(
        name="delivery-poll-novaposhta",
        kind="delivery.poll_novaposhta",
        every_seconds=900,
        needs=("novaposhta_api_key",),
    ),
    Job(
        # a backstop: webhooks bring most CDEK statuses within seconds
        name="delivery-poll-cdek",
        kind="delivery.poll_cdek",
        every_seconds=1800,
        needs=("cdek_client_id",),
    ),
]
