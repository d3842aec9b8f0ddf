"""The `sync.poll` task: reads one stream of one system from its cursor and enqueues the changes.

A scheduled job (jobs/sync.py) only enqueues this task once per time bucket; the task does the
reading, so the scheduler never talks to a remote system and a failed poll is retried by the
queue like any task. Tasks of one job share an ordering key, so two polls of one stream never
run at once and the cursor has a single writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError
from connector.sync import bitrix24, woocommerce
from connector.sync.streams import Outcome, Stream, run_stream

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext


class UnknownStream(ConnectorError):
    """A system or stream name that polling does not know."""


# (system, stream) -> builds the incremental stream from the services and the task's options
POLLED: dict[tuple[str, str], Callable[[Services, dict[str, Any]], Stream]] = {
    ("woocommerce", "orders"): lambda s, o: woocommerce.ModifiedStream(
        s.woocommerce, "orders", **o
    ),
    ("woocommerce", "products"): lambda s, o: woocommerce.ModifiedStream(
        s.woocommerce, "products", **o
    ),
    ("woocommerce", "customers"): lambda s, o: woocommerce.CustomerScan(s.woocommerce, **o),
    ("bitrix24", "deals"): lambda s, o: bitrix24.ModifiedScan(s.bitrix24, "deals", **o),
    ("bitrix24", "contacts"): lambda s, o: bitrix24.ModifiedScan(s.bitrix24, "contacts", **o),
    ("bitrix24", "offline_events"): lambda s, o: bitrix24.OfflineEvents(s.bitrix24),
}
OPTIONS = ("lookback", "first_window")


def polled_stream(services: Services, system: str, stream: str, **options: Any) -> Stream:
    build = POLLED.get((system, stream))
    if build is None:
        known = ", ".join(f"{s}/{n}" for s, n in POLLED)
        raise UnknownStream(f"no polled stream {system}/{stream} (known: {known})")
    return build(services, {k: v for k, v in options.items() if k in OPTIONS and v is not None})


def poll_once(services: Services, system: str, stream: str, **options: Any) -> Outcome | None:
    """Reads the stream to its end; None when the system is not configured (nothing to do)."""
    if not services.enabled(system):
        return None
    return run_stream(services.queue, polled_stream(services, system, stream, **options))


def poll(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `sync.poll` {system, stream, lookback?, first_window?}."""
    options = {k: payload.get(k) for k in OPTIONS}
    poll_once(ctx.services, str(payload["system"]), str(payload["stream"]), **options)
