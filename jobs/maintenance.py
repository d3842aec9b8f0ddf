"""Housekeeping jobs of the store itself."""

from connector.queue import BULK
from jobs import Job

JOBS = [
    Job(name="purge-done-tasks", kind="maintenance.purge_done", every_seconds=3600, priority=BULK),
]
