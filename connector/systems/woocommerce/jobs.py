"""WooCommerce's scheduled jobs: polls that back up its webhooks (never retried, disabled after
repeated failures) and the check that switches ours back on. Each job only enqueues its task
once per time bucket (connector/sync/polling.py does the reading); the lookbacks overlap the
previous window on purpose: a record read twice is dropped by its dedupe key."""

from __future__ import annotations

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
        # coupons (connector/promo): a webhook may be lost, and usage counts change with orders
        name="poll-woocommerce-coupons",
        kind="sync.poll",
        every_seconds=900,
        payload={"system": "woocommerce", "stream": "coupons", "lookback": 900},
        needs=("woocommerce_url", "mailchimp_api_key"),
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
]
