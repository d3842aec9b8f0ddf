"""The `sync.poll` task: reads one stream of one system from its cursor and enqueues the changes.

A scheduled job (the `jobs` of a system's declaration) only enqueues this task once per time
bucket; the task does the reading, so the scheduler never talks to a remote system and a failed
poll is retried by the queue like any task. Tasks of one job share an ordering key, so two polls
of one stream never run at once and the cursor has a single writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError
from connector.sync.streams import Outcome, Stream, run_stream
from connector.systems.registry import resolve

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext


class UnknownStream(ConnectorError):
    """A system or stream name that polling does not know."""


OPTIONS = ("lookback", "first_window")


def polled_streams(services: Services) -> dict[tuple[str, str], Any]:
    """(system, stream) -> f(services, options) -> Stream, for every stream a system declares
    (`streams` in connector/systems/<name>/system.py), in the registry's order."""
    return {
        (system.name, name): build
        for system in services.systems
        for name, build in system.streams.items()
    }


def polled_stream(services: Services, system: str, stream: str, **options: Any) -> Stream:
    streams = polled_streams(services)
    build = streams.get((system, stream))
    if build is None:
        known = ", ".join(f"{s}/{n}" for s, n in streams)
        raise UnknownStream(f"no polled stream {system}/{stream} (known: {known})")
    wanted = {k: v for k, v in options.items() if k in OPTIONS and v is not None}
    return resolve(build)(services, wanted)


def poll_once(services: Services, system: str, stream: str, **options: Any) -> Outcome | None:
    """Reads the stream to its end; None when the system is not configured (nothing to do)."""
    if not services.enabled(system):
        return None
    return run_stream(services.queue, polled_stream(services, system, stream, **options))


def poll(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `sync.poll` {system, stream, lookback?, first_window?}."""
    options = {k: payload.get(k) for k in OPTIONS}
    poll_once(ctx.services, str(payload["system"]), str(payload["stream"]), **options)
