"""Loyalty jobs: release pending bonuses after the return window, expire old ones, remind first.

Each only enqueues its task once per time bucket; the task does the work (loyalty/tasks.py).
"""

from connector.queue import BULK
from jobs import Job

JOBS = [
    Job(name="loyalty-release", kind="loyalty.release", every_seconds=3600, priority=BULK),
    Job(name="loyalty-expire", kind="loyalty.expire", every_seconds=86400, priority=BULK),
    Job(
        name="loyalty-expiry-reminders",
        kind="loyalty.expiry_reminders",
        every_seconds=86400,
        priority=BULK,
    ),
]
