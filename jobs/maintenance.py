"""Housekeeping jobs of the store itself."""

from jobs import Job

JOBS = [
    Job(name="purge-done-tasks", kind="maintenance.purge_done", every_seconds=3600),
]
