"""SMS.ru's scheduled job: a backstop poll of `sms/status` for sends whose delivery is still
open, for a callback SMS.ru could not deliver (or a cabinet without the callback URL)."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="smsru-status-poll",
        kind="smsru.poll",
        every_seconds=900,
        needs=("smsru_api_id",),
    ),
]
