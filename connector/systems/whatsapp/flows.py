"""`whatsapp.webhook` tasks, queued by the webhook route: delivery statuses and replies.

Statuses map to the canonical ones (`connector.cascades.channels.STATUSES`): sent, delivered,
read as they are; failed is "undelivered" when Meta says the number cannot be reached (131026)
and "failed" otherwise; a failure 131050 (the user stopped marketing messages) is also an
opt-out. `record_status` ignores older news, so Meta's repeated or reordered statuses are
harmless. An inbound text (or quick-reply button) equal to one of CONNECTOR_WHATSAPP_STOP_WORDS
opts the number out of the medium "messenger"; one of the START words opts it back in.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.cascades.outcomes import opt_in, opt_out, record_status
from connector.logs import mask
from connector.systems.whatsapp.client import OPTED_OUT
from connector.systems.whatsapp.settings import WhatsAppSettings
from connector.tasks import TaskContext

log = logging.getLogger("connector.whatsapp")

NAME = "whatsapp"
MEDIUM = "messenger"
UNDELIVERABLE = 131026
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def canonical(status: str, errors: list[int]) -> str | None:
    """The canonical status of a WhatsApp status (None for one we do not track, "deleted")."""
    if status == "failed" and UNDELIVERABLE in errors:
        return "undelivered"
    return STATUS_MAP.get(status)


def words(setting: str) -> set[str]:
    return {word.strip().casefold() for word in setting.split(",") if word.strip()}


def webhook(ctx: TaskContext, payload: dict[str, Any]) -> None:
    services = ctx.services
    settings = services.settings.of(WhatsAppSettings)
    stop, start = words(settings.stop_words), words(settings.start_words)
    now = services.queue.clock()
    with services.engine.begin() as connection:
        for status in payload.get("statuses") or []:
            errors = [int(code) for code in status.get("errors") or []]
            mapped = canonical(str(status.get("status")), errors)
            at = float(status.get("timestamp") or now)
            if mapped is not None:
                record_status(connection, NAME, str(status["id"]), mapped, at)
            if OPTED_OUT in errors and status.get("recipient"):
                opt_out(connection, MEDIUM, str(status["recipient"]), NAME, "stopped marketing", at)
        for message in payload.get("messages") or []:
            said = (message.get("text") or "").strip().casefold()
            number = str(message["from"])
            if said in stop:
                at = float(message.get("timestamp") or now)
                opt_out(connection, MEDIUM, number, NAME, "STOP reply", at)
                log.info("whatsapp %s opted out (STOP reply)", mask(number))
            elif said in start:
                opt_in(connection, MEDIUM, number)
                log.info("whatsapp %s opted in (START reply)", mask(number))
