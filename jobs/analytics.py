"""Analytics job: recompute every customer's figures nightly, since recency changes with time
alone (connector/analytics/keeper.py). It only enqueues its task once per day."""

from jobs import Job

JOBS = [Job(name="analytics-nightly", kind="analytics.recompute", every_seconds=86400)]
