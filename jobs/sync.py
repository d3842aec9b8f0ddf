"""Polls that back up the webhooks: each job enqueues one `sync.poll` task per time bucket.

WooCommerce webhooks are never retried and get disabled after repeated failures; Bitrix24
events are never re-sent. These jobs make the connector read what changed anyway
(connector/sync/polling.py does the reading). The lookbacks overlap the previous window on
purpose: a record read twice is dropped by its dedupe key.
"""

from jobs import Job

JOBS = [
    Job(
        name="poll-woocommerce-orders",
        kind="sync.poll",
        every_seconds=300,
        payload={"system": "woocommerce", "stream": "orders", "lookback": 600},
        needs=("woocommerce_url",),
    ),
    Job(
        name="poll-woocommerce-products",
        kind="sync.poll",
        every_seconds=900,
        payload={"system": "woocommerce", "stream": "products", "lookback": 900},
        needs=("woocommerce_url",),
    ),
    Job(
        # `/customers` has no date filter: this one scans, so it runs rarely.
        name="poll-woocommerce-customers",
        kind="sync.poll",
        every_seconds=6 * 3600,
        payload={"system": "woocommerce", "stream": "customers", "first_window": 6 * 3600},
        needs=("woocommerce_url",),
    ),
    Job(
        # WooCommerce disables a webhook after repeated failures: switch ours back on at start,
        # when our public URL answers again, and every 15 minutes; the other runs of the minute
        # cost one request to our own /healthz (connector/sync/webhook_health.py)
        name="woocommerce-webhook-health",
        kind="sync.webhook_health",
        every_seconds=60,
        needs=("woocommerce_url", "public_url"),
        at_start=True,
    ),
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
