"""SMS.ru's delivery statuses into the cascade sends (`connector.cascades.outcomes`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, or_, select

from connector.cascades import outcomes
from connector.store.tables import cascade_sends
from connector.systems.smsru.channel import NAME, canonical_status
from connector.tasks import TaskContext

log = logging.getLogger("connector.systems.smsru")

OPEN = ("queued", "sent")  # statuses a later one may still follow
POLL_AFTER = 600.0  # a send's callback gets this long before the poll asks
POLL_WITHIN = 3 * 86_400.0  # SMS.ru keeps a message's status for days, not for ever
POLL_MOST = 500  # sends asked about per run


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


def poll_statuses(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `smsru.poll` (every 15 minutes): the SMS.ru sends of the last 3 days still queued or
    sent 10 minutes after sending are asked about with `sms/status`, 100 ids a call, and what
    changed is recorded as a callback would have."""
    from connector.systems.smsru.client import STATUS_BATCH, SmsruClient

    services = ctx.services
    now = services.queue.clock()
    with services.engine.connect() as connection:
        open_ids = list(
            connection.scalars(
                select(cascade_sends.c.provider_id)
                .where(
                    and_(
                        cascade_sends.c.channel == NAME,
                        cascade_sends.c.provider_id.is_not(None),
                        cascade_sends.c.sent_at.between(now - POLL_WITHIN, now - POLL_AFTER),
                        or_(cascade_sends.c.status.is_(None), cascade_sends.c.status.in_(OPEN)),
                    )
                )
                .order_by(cascade_sends.c.sent_at)
                .limit(POLL_MOST)
            )
        )
    client: SmsruClient = services.client(NAME)
    for start in range(0, len(open_ids), STATUS_BATCH):
        codes = client.statuses(open_ids[start : start + STATUS_BATCH])
        with services.engine.begin() as connection:
            for sms_id, code in codes.items():
                status = canonical_status(code)
                if status is not None:
                    outcomes.record_status(connection, NAME, sms_id, status, now)
