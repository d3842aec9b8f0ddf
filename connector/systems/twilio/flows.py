"""Twilio's statuses and replies into the cascades (`connector.cascades.outcomes`)."""

from __future__ import annotations

import logging
from typing import Any

from connector.cascades import outcomes
from connector.systems.twilio.channel import NAME, canonical_status
from connector.systems.twilio.client import UNSUBSCRIBED
from connector.tasks import TaskContext

log = logging.getLogger("connector.systems.twilio")


def status_callback(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `twilio.status` {sid, status, error_code, to}: the status recorded on the send with
    that sid; a 21610 failure also opts the number out of SMS."""
    services = ctx.services
    now = services.queue.clock()
    status = canonical_status(str(payload.get("status") or ""))
    with services.engine.begin() as connection:
        if status is not None:
            outcomes.record_status(connection, NAME, str(payload["sid"]), status, now)
        else:
            log.info(
                "twilio status %s of %s is no delivery news", payload.get("status"), payload["sid"]
            )
        if str(payload.get("error_code") or "") == str(UNSUBSCRIBED) and payload.get("to"):
            outcomes.opt_out(
                connection, "sms", str(payload["to"]), NAME, "twilio 21610 (STOP)", now
            )


def inbound(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `twilio.inbound` {sid, from, word}: "stop" opts the sender's number out of SMS in
    every scenario, "start" back in."""
    services = ctx.services
    with services.engine.begin() as connection:
        if payload["word"] == "stop":
            outcomes.opt_out(
                connection, "sms", str(payload["from"]), NAME, "STOP reply", services.queue.clock()
            )
        elif payload["word"] == "start":
            outcomes.opt_in(connection, "sms", str(payload["from"]))
