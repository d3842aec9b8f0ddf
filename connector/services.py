"""The shared services of one process: settings, store, queue, metrics, and lazily the clients.

Built once by each entry point (web app, worker, scheduler, CLI command) and handed down;
nothing lives at module level.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from connector.config import Settings, load_settings
from connector.metrics import Metrics
from connector.queue import Queue, RetryPolicy
from connector.store import open_store


class Services:
    """Everything a handler or route may need; each piece is built on first use."""

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None) -> None:
        self.settings = settings or load_settings()
        self._engine = engine

    @cached_property
    def engine(self) -> Engine:
        return self._engine or open_store(self.settings)

    @cached_property
    def queue(self) -> Queue:
        return Queue(self.engine, RetryPolicy.from_settings(self.settings))

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.queue)

    @cached_property
    def registry(self) -> Any:
        from connector.tasks import build_registry

        return build_registry()

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
