"""Prometheus metrics: in-process counters, plus queue figures read from the store at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.queue import Queue


class QueueCollector(Collector):
    """Queue depth, dead letters and the oldest waiting task, as of the scrape."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.queue.stats()
        tasks = GaugeMetricFamily("connector_tasks", "Tasks by state", labels=["state"])
        for state in ("queued", "running", "dead"):
            tasks.add_metric([state], getattr(stats, state))
        yield tasks
        yield GaugeMetricFamily(
            "connector_oldest_queued_task_seconds",
            "Age of the oldest queued task",
            value=stats.oldest_queued_age or 0.0,
        )


MAX_CHILDREN = 1000


class Metrics:
    """One registry per process (no global state), shared by web app, worker and scheduler."""

    def __init__(self, queue: Queue | None = None) -> None:
        self.registry = CollectorRegistry()
        self.tasks = Counter(
            "connector_tasks_processed", "Tasks run", ["kind", "outcome"], registry=self.registry
        )
        self.task_seconds = Histogram(
            "connector_task_duration_seconds", "Task run time", ["kind"], registry=self.registry
        )
        self.webhooks = Counter(
            "connector_webhooks_received", "Webhooks", ["source", "outcome"], registry=self.registry
        )
        self.http_responses = Counter(
            "connector_http_responses",
            "HTTP responses by route pattern and status class (2xx, 4xx, 5xx); a 5xx is ours",
            ["route", "status"],
            registry=self.registry,
        )
        self.remote_calls = Counter(
            "connector_remote_calls",
            "Calls to remote systems",
            ["system", "outcome"],
            registry=self.registry,
        )
        if queue is not None:
            self.registry.register(QueueCollector(queue))
        # (counter, label values) -> its child: `labels()` checks and locks on every call,
        # and the webhook intake counts twice per request
        self._children: dict[tuple[Counter, tuple[str, ...]], Any] = {}

    def count(self, counter: Counter, *labels: str) -> None:
        """Adds one to the child of `counter` with these label values, looked up once."""
        child = self._children.get((counter, labels))
        if child is None:
            child = counter.labels(*labels)
            if len(self._children) < MAX_CHILDREN:  # values a stranger chose stay uncached
                self._children[(counter, labels)] = child
        child.inc()
