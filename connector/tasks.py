"""Task kinds: the one place that says which handler runs each kind of task."""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.errors import PermanentError, TransientError, UnknownTaskKind

if TYPE_CHECKING:
    from connector.queue import Task
    from connector.services import Services


@dataclass
class TaskContext:
    """What a handler gets besides its payload: the task itself and the shared services."""

    task: Task
    services: Services


Handler = Callable[[TaskContext, dict[str, Any]], None]


class TaskRegistry:
    """Maps task kinds to handlers; `connector worker` refuses nothing it cannot name."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"task kind {kind!r} registered twice")
        self._handlers[kind] = handler

    def handler(self, kind: str) -> Handler:
        try:
            return self._handlers[kind]
        except KeyError:
            raise UnknownTaskKind(kind) from None

    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, kind: str) -> bool:
        return kind in self._handlers


def probe(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Diagnostic task: proves the pipeline end to end, and can rehearse failures and crashes.

    Each run leaves an audit row. `sleep` holds the task (to rehearse a crash mid-task);
    `fail_runs` fails the first N runs of this probe with `fail_as` (transient or permanent).
    """
    from connector.audit import record_write, writes

    name = str(payload.get("name", ctx.task.id))
    engine = ctx.services.engine
    record_write(
        engine,
        system="connector",
        entity="probe",
        action="run",
        external_id=name,
        task_id=ctx.task.id,
        detail={"attempt": ctx.task.attempts},
    )
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    runs = len(writes(engine, entity="probe", external_id=name))
    if runs <= int(payload.get("fail_runs", 0)):
        error = PermanentError if payload.get("fail_as") == "permanent" else TransientError
        raise error(f"probe failure on run {runs}")


def noop(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Does nothing: what the queue benchmark drains."""


def purge_done(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Deletes finished tasks past the dedupe window, so the queue table stays small."""
    days = ctx.services.settings.queue_keep_done_days
    ctx.services.queue.purge_done(days * 86400)


# Packages that add task kinds, each through `register(registry)`; a package of a later
# feature that is not there yet is skipped.
FEATURE_PACKAGES = (
    "connector.flows",
    "connector.sync",
    "connector.loyalty",
    "connector.delivery",
    "connector.analytics",
    "connector.cascades",
    "connector.catalogue",
)


def build_registry(systems: Any = None) -> TaskRegistry:
    """Every task kind the connector knows: the built-in ones, those of each feature and those
    each system declares (`task_handlers`, connector/systems/registry.py)."""
    from connector.systems.registry import Registry

    registry = TaskRegistry()
    registry.register("diagnostic.probe", probe)
    registry.register("diagnostic.noop", noop)
    registry.register("maintenance.purge_done", purge_done)
    for name in FEATURE_PACKAGES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(registry)
    for system in systems if systems is not None else Registry.discover():
        for kind, handler in system.handlers().items():
            registry.register(kind, handler)
    return registry
