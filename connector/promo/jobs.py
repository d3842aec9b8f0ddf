"""The promo codes' scheduled job: codes past their end are disabled in Mailchimp."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="promo-expiry",
        kind="promo.expire",
        every_seconds=900,
        needs=("mailchimp_api_key",),
    ),
]
