"""The start link in the CRM: each unbound customer's Bitrix24 contact holds a link that binds
her Telegram chat (CONNECTOR_TELEGRAM_CRM_FIELD), so a manager or a CRM robot can send it by
any means without the connector's console or CLI.

- `telegram.crm_links` (hourly job, `JOBS`): finds customers with a Bitrix24 contact, no bound
  chat and no CRM link valid for another day, and queues `telegram.crm_link` for up to
  `BATCH` of them (the rest on the next runs).
- `telegram.crm_link {customer_id}`: writes a fresh link (valid CONNECTOR_TELEGRAM_CRM_LINK_DAYS)
  into the field, or empties the field once the chat is bound (queued by the binding too).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import aliased

from connector import keys
from connector.errors import PermanentError
from connector.flows.hub import skip
from connector.identity import link_of
from connector.store import reading
from connector.store.tables import links, telegram_crm_links
from connector.systems.telegram.binding import bound_chat, link_of_token, new_token
from connector.systems.telegram.settings import TelegramSettings
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.telegram")

KIND = "telegram.crm_link"
BATCH = 1000
RENEW_BEFORE = 86400.0  # a link is renewed a day before it expires


def field_of(services: Services) -> str | None:
    """The contact field, when the CRM link is on (the field set and Bitrix24 configured)."""
    field = services.settings.of(TelegramSettings).crm_field
    return field if field and services.enabled("bitrix24") else None


def enqueue(services: Services, customer_id: str, connection: Any = None) -> None:
    """Queues the CRM link of one customer (written, renewed or emptied)."""
    if field_of(services) is None:
        return
    services.queue.enqueue(
        KIND,
        {"customer_id": customer_id},
        ordering_key=keys.telegram_crm(customer_id),
        connection=connection,
    )


def due(services: Services, now: float, limit: int = BATCH) -> list[str]:
    """Customers with a Bitrix24 contact, no bound chat and no CRM link valid past tomorrow."""
    crm, chat = aliased(links), aliased(links)
    query = (
        select(crm.c.canonical_id)
        .outerjoin(
            chat,
            and_(
                chat.c.entity == "customer",
                chat.c.canonical_id == crm.c.canonical_id,
                chat.c.system == "telegram",
            ),
        )
        .outerjoin(telegram_crm_links, telegram_crm_links.c.customer_id == crm.c.canonical_id)
        .where(
            crm.c.entity == "customer",
            crm.c.system == "bitrix24",
            chat.c.canonical_id.is_(None),
            (telegram_crm_links.c.customer_id.is_(None))
            | (telegram_crm_links.c.expires_at < now + RENEW_BEFORE),
        )
        .order_by(crm.c.canonical_id)
        .limit(limit)
    )
    with reading(services.engine) as connection:
        return [str(row[0]) for row in connection.execute(query)]


def crm_links(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`telegram.crm_links`: queues the links to write or renew (the job's task)."""
    services = ctx.services
    if field_of(services) is None:
        return
    now = services.queue.clock()
    found = due(services, now, int(payload.get("limit") or BATCH))
    bucket = int(now // 3600)
    items = [
        ({"customer_id": cid}, keys.telegram_crm_bucket(KIND, cid, bucket), keys.telegram_crm(cid))
        for cid in found
    ]
    services.queue.enqueue_many(KIND, items)
    if found:
        log.info("telegram: %s CRM start links to write or renew", len(found))


def crm_link(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`telegram.crm_link {customer_id}`: the field holds a fresh link, or nothing once bound."""
    services = ctx.services
    field = field_of(services)
    if field is None:
        return
    cid = str(payload["customer_id"])
    contact = link_of(services.engine, "customer", cid, "bitrix24")
    if contact is None:
        skip("telegram crm link", "no Bitrix24 contact", customer=cid)
        return
    now = services.queue.clock()
    if bound_chat(services, cid):
        write(services, cid, int(contact.external_id), {field: ""})
        with services.engine.begin() as connection:
            connection.execute(
                delete(telegram_crm_links).where(telegram_crm_links.c.customer_id == cid)
            )
        return
    days = services.settings.of(TelegramSettings).crm_link_days
    with services.engine.begin() as connection:
        held = connection.execute(
            select(telegram_crm_links).where(telegram_crm_links.c.customer_id == cid)
        ).first()
        if held is not None and held.expires_at >= now + RENEW_BEFORE:
            token = str(held.token)  # a retry after the write: the same link again
        else:
            token = new_token(connection, cid, now, days)
            connection.execute(
                delete(telegram_crm_links).where(telegram_crm_links.c.customer_id == cid)
            )
            connection.execute(
                insert(telegram_crm_links).values(
                    customer_id=cid, token=token, expires_at=now + days * 86400, written_at=now
                )
            )
    write(services, cid, int(contact.external_id), {field: link_of_token(services, token)})


def write(services: Services, customer_id: str, contact_id: int, fields: dict[str, str]) -> None:
    """Writes the field; a contact Bitrix24 refuses for good (deleted) is skipped, not a dead
    letter: the link is a convenience, and the next run offers it again."""
    try:
        services.bitrix24.update_contact(contact_id, fields)
    except PermanentError as error:
        skip("telegram crm link", f"Bitrix24 refused: {error}", customer=customer_id)
