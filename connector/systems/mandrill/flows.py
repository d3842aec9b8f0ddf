"""What Mandrill's webhooks say, applied: delivery statuses of cascade sends and opt-outs."""

from __future__ import annotations

import logging
from typing import Any

from connector.cascades import outcomes
from connector.logs import mask
from connector.systems.mandrill.webhooks import OPT_OUTS, STATUSES
from connector.tasks import TaskContext

log = logging.getLogger("connector.mandrill")

CHANNEL = "mandrill"


def mandrill_events(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """One webhook batch, in one transaction: each event's status on the send that has its
    message id (a status of a message we did not send changes nothing) and, on unsub, spam
    and hard_bounce, an email opt-out of the address."""
    with ctx.services.engine.begin() as connection:
        for event in payload.get("events") or []:
            kind, at = event["event"], float(event["ts"])
            status = STATUSES.get(kind)
            if status is not None:
                outcomes.record_status(connection, CHANNEL, event["id"], status, at)
            reason = OPT_OUTS.get(kind)
            if reason and event.get("email"):
                outcomes.opt_out(connection, "email", event["email"], CHANNEL, reason, at)
                log.info("mandrill %s: %s opted out of email", kind, mask(event["email"]))
