"""The alert evaluation: every minute, in the scheduler itself (not a task: an alert about a
lagging queue must not wait in that queue, and a slow mail server must not hold a worker)."""

from jobs import Job

JOBS = [
    Job(
        name="alerts-evaluate",
        kind="alerts.evaluate",
        every_seconds=60,
        run="connector.alerts.evaluate:evaluate_job",
    ),
]
