"""`whatsapp.webhook` tasks, queued by the webhook route: delivery statuses and replies.

Statuses map to the canonical ones (`connector.cascades.channels.STATUSES`): sent, delivered,
read as they are; failed is "undelivered" when Meta says the number cannot be reached (131026)
and "failed" otherwise; a failure 131050 (the user stopped marketing messages) is also an
opt-out. `record_status` ignores older news, so Meta's repeated or reordered statuses are
harmless. A status of a send not recorded yet (Meta can be quicker than the step that sent
it) waits up to STATUS_PATIENCE seconds for it (`NotReady`); older ones of unknown messages
are dropped. An inbound text (or quick-reply button) equal to one of CONNECTOR_WHATSAPP_STOP_WORDS
opts the number out of the medium "messenger"; one of the START words opts it back in.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select

from connector.cascades.outcomes import opt_in, opt_out, record_status
from connector.errors import NotReady
from connector.logs import mask
from connector.store.tables import cascade_sends
from connector.systems.whatsapp.client import OPTED_OUT
from connector.systems.whatsapp.settings import WhatsAppSettings
from connector.tasks import TaskContext

log = logging.getLogger("connector.whatsapp")

NAME = "whatsapp"
MEDIUM = "messenger"
UNDELIVERABLE = 131026
STATUS_PATIENCE = 120.0
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
    unknown = []
    with services.engine.begin() as connection:
        for status in payload.get("statuses") or []:
            errors = [int(code) for code in status.get("errors") or []]
            mapped = canonical(str(status.get("status")), errors)
            at = float(status.get("timestamp") or now)
            provider_id = str(status["id"])
            recorded = mapped is not None and record_status(
                connection, NAME, provider_id, mapped, at
            )
            fresh = now - at < STATUS_PATIENCE
            if mapped is not None and not recorded and fresh and not known(connection, provider_id):
                unknown.append(provider_id)
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
    if unknown:
        raise NotReady(f"the sends of WhatsApp statuses {', '.join(unknown)}", wait=5.0)


def known(connection: Connection, provider_id: str) -> bool:
    """Whether a send of ours has this WhatsApp message id (a status may be old news)."""
    found = connection.execute(
        select(cascade_sends.c.id).where(
            cascade_sends.c.channel == NAME, cascade_sends.c.provider_id == provider_id
        )
    ).first()
    return found is not None
