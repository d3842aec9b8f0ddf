"""Getting changes in without webhooks: polling with cursors, full syncs, POS imports, trace.

Registers the task kinds `sync.poll` {system, stream}: read one stream from its cursor and
enqueue one per-record task per change (`woocommerce.order`, `bitrix24.event` ...), advancing
the cursor in the same transaction; `sync.job_stream` {job, ...}: one stream of a poll or full
sync started from the console, reporting its progress (`progress.py`); and
`sync.webhook_health` {}: switch the WooCommerce webhooks the shop disabled back on. The
per-record kinds themselves belong to connector.flows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.tasks import TaskRegistry


def register(registry: TaskRegistry) -> None:
    from connector.sync.polling import poll
    from connector.sync.progress import JOB_STREAM, job_stream
    from connector.sync.webhook_health import webhook_health

    registry.register("sync.poll", poll)
    registry.register(JOB_STREAM, job_stream)
    registry.register("sync.webhook_health", webhook_health)
