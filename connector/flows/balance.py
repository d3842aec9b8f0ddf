"""The bonus balance and member events, published where customers and managers see them.

The loyalty and delivery features call these two functions; they only queue push tasks (one per
target system, DESIGN.md "Fan-out"), so a Mailchimp outage never holds up the ledger or the CRM.
The balance field names come from the mappings: the Bitrix24 contact field and the Mailchimp
merge field that map the canonical `bonus_balance` (UF_CRM_BONUS_BALANCE and BONUS by default).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.audit import record_write
from connector.errors import PermanentError
from connector.flows.hub import change_snapshot, load_snapshot, push, skip
from connector.identity import jsonable, link_of, save_link
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services


def publish_balance(services: Services, customer_id: str, balance: Decimal | str | float) -> None:
    """Remembers the balance in the hub and queues its write to Bitrix24 and Mailchimp."""
    amount = Decimal(str(balance))
    with services.engine.begin() as connection:
        change_snapshot(
            connection,
            "customer",
            customer_id,
            lambda current: (current or {"id": customer_id}) | {"bonus_balance": amount},
        )
        if services.enabled("bitrix24"):
            push(connection, services, "push.bitrix24.balance", customer_id)
        if services.enabled("mailchimp"):
            push(connection, services, "push.mailchimp.balance", customer_id)


def opening_balance(services: Services, customer_id: str) -> Decimal | None:
    """The balance a new contact or member is created with when the connector's own ledger
    keeps the bonuses: its available points (0 before the first entry). None without the
    feature or with an outside provider (OpenLoyalty): no field until the balance is published."""
    if "loyalty.order_event" not in services.registry:
        return None
    if services.settings.loyalty_provider != "ledger":
        return None
    from connector.loyalty.ledger import balance_of

    held = balance_of(services.engine, customer_id)
    return held.available if held is not None else Decimal(0)


def balance_fields(services: Services, amount: Any) -> dict[str, Any]:
    """The Bitrix24 contact fields that map the canonical `bonus_balance` (the mappings say)."""
    mapping = services.mappings.current.get("bitrix24", "contact")
    fields = mapping.to_system({"bonus_balance": amount})
    return {k: v for k, v in fields.items() if v is not None}


def send_member_event(
    services: Services,
    customer_id: str,
    name: str,
    properties: dict[str, Any] | None = None,
    *,
    occurred_at: str | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Queues a Mailchimp member event (`name` 2-30 chars) that a Customer Journey can start on."""
    with services.engine.begin() as connection:
        push(
            connection,
            services,
            "push.mailchimp.event",
            customer_id,
            {"name": name, "properties": dict(properties or {}), "occurred_at": occurred_at},
            dedupe_key=dedupe_key,
        )


def push_bitrix24_balance(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Writes the latest balance to the linked contact (an unlinked one gets it on creation).

    The link remembers the balance fields last written (`data.balance`, also by the contact's
    creation): the same balance again is no command, so a first order's publish of 0 points
    costs the portal nothing."""
    engine, cid = ctx.services.engine, payload["id"]
    customer = load_snapshot(engine, "customer", cid)
    link = link_of(engine, "customer", cid, "bitrix24")
    if customer is None or customer.get("bonus_balance") is None or link is None:
        return
    fields = balance_fields(ctx.services, customer["bonus_balance"])
    if fields and jsonable(fields) == (link.data or {}).get("balance"):
        return
    if fields:
        client = ctx.services.bitrix24
        try:
            client.update_contact(int(link.external_id), fields)
        except PermanentError as error:
            if not client.contact_was_deleted(int(link.external_id), error):
                raise
            skip("balance", "the Bitrix24 contact was deleted", customer=cid)
            return  # the recreated contact is created with the balance
        record_write(
            engine,
            system="bitrix24",
            entity="contact",
            action="balance",
            external_id=link.external_id,
            canonical_id=cid,
            task_id=ctx.task.id,
        )
        save_link(engine, "customer", cid, "bitrix24", link.external_id, data={"balance": fields})


def push_mailchimp_balance(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Writes the latest balance to the member's merge field (an unlinked one gets it later)."""
    engine, cid = ctx.services.engine, payload["id"]
    customer = load_snapshot(engine, "customer", cid)
    link = link_of(engine, "customer", cid, "mailchimp")
    if customer is None or customer.get("bonus_balance") is None or link is None:
        return
    mapping = ctx.services.mappings.current.get("mailchimp", "member")
    merge_fields = mapping.to_system({"bonus_balance": customer["bonus_balance"]}).get(
        "merge_fields"
    )
    if merge_fields:
        settings = ctx.services.settings
        ctx.services.mailchimp.upsert_member(
            settings.mailchimp_audience, link.external_id, merge_fields, "transactional"
        )
        record_write(
            engine,
            system="mailchimp",
            entity="member",
            action="balance",
            external_id=link.external_id,
            canonical_id=cid,
            task_id=ctx.task.id,
        )


def push_mailchimp_event(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Posts a member event; the person becomes a (transactional) member first if needed."""
    engine, cid = ctx.services.engine, payload["id"]
    link = link_of(engine, "customer", cid, "mailchimp")
    customer = load_snapshot(engine, "customer", cid) or {}
    email = link.external_id if link else customer.get("email")
    if not email:
        skip("member event", "customer has no email", customer=cid, name=payload.get("name"))
        return
    client, list_id = ctx.services.mailchimp, ctx.services.settings.mailchimp_audience
    if link is None:
        client.upsert_member(list_id, email, None, "transactional")
    try:
        client.add_member_event(
            list_id,
            email,
            payload["name"],
            payload.get("properties"),
            occurred_at=payload.get("occurred_at"),
        )
    except PermanentError as error:
        if error.status != 404:
            raise
        client.upsert_member(list_id, email, None, "transactional")
        client.add_member_event(
            list_id,
            email,
            payload["name"],
            payload.get("properties"),
            occurred_at=payload.get("occurred_at"),
        )
    record_write(
        engine,
        system="mailchimp",
        entity="member_event",
        action="add",
        external_id=email,
        canonical_id=cid,
        task_id=ctx.task.id,
        detail={"name": payload["name"]},
    )
