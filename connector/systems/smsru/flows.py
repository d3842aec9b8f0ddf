"""SMS.ru's delivery statuses into the cascade sends (`connector.cascades.outcomes`)."""

from __future__ import annotations

import logging
from typing import Any

from connector.cascades import outcomes
from connector.systems.smsru.channel import NAME, canonical_status
from connector.tasks import TaskContext

log = logging.getLogger("connector.systems.smsru")


def status_callback(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `smsru.status` {statuses: [{sms_id, code, at}]}: each known code recorded on the
    send with that sms_id (a status of a message we did not send, or older news, is dropped)."""
    services = ctx.services
    now = services.queue.clock()
    with services.engine.begin() as connection:
        for entry in payload.get("statuses") or []:
            status = canonical_status(int(entry["code"]))
            if status is None:
                log.info(
                    "sms.ru status %s of %s is no delivery news", entry["code"], entry["sms_id"]
                )
                continue
            at = float(entry.get("at") or now)
            outcomes.record_status(connection, NAME, str(entry["sms_id"]), status, at)
