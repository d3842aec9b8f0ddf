"""Back from the CRM: a manager's stage move or contact edit in Bitrix24 reaches the shop and
Mailchimp.

Bitrix24 events carry only an ID and are never re-sent (research/bitrix24.md 6.2, 6.3), so the
entity is read fresh. The fresh record's watched fields (a deal's stage; a contact's fields the
mapping says the CRM owns) are hashed and compared with the fingerprint on the link: equal means
the event is the echo of our own write (or changes nothing we sync) and is dropped. An event
older than the version already applied is dropped before any call.
"""

from __future__ import annotations

from typing import Any

from connector.errors import PermanentError
from connector.flows.customers import ingest_customer, owned_fields
from connector.flows.hub import change_snapshot, skip
from connector.flows.orders import DEAL_WATCH, fan_out_order, report_order_change
from connector.identity import (
    find_link,
    fingerprint,
    is_echo,
    is_stale,
    save_link,
    version_text,
)
from connector.tasks import TaskContext


def bitrix24_event(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """ONCRM{DEAL,CONTACT}{ADD,UPDATE,DELETE}: read the entity fresh and act on real changes."""
    if str(payload.get("event", "")).upper().endswith("DELETE"):
        skip("bitrix24 event", "deletions are not synced", id=payload.get("id"))
        return
    if is_our_own_add(ctx, payload):
        skip("bitrix24 event", "the add of a record we created", id=payload.get("id"))
        return
    if payload.get("entity") == "deal":
        deal_changed(ctx, str(payload["id"]), payload.get("ts"))
    elif payload.get("entity") == "contact":
        contact_changed(ctx, str(payload["id"]), payload.get("ts"))


def is_our_own_add(ctx: TaskContext, payload: dict[str, Any]) -> bool:
    """An ADD event of a record the connector created needs no read to be dropped.

    Safe without reading because an ADD is fired by the creation alone: a manager's edit
    right after our write fires its own UPDATE event, which is read and compared as usual
    (online events, inbound webhooks included, can attribute nothing else: the body has only
    the ID and a one-second `ts`). Every deal link is ours (the deal push makes them); a
    contact link only when our add made the contact (`created`), not when our duplicate
    search found one a manager had made, whose ADD must still bring the manager's fields."""
    if not str(payload.get("event", "")).upper().endswith("ADD"):
        return False
    entity, record_id = payload.get("entity"), str(payload.get("id"))
    engine = ctx.services.engine
    if entity == "deal":
        return find_link(engine, "order", "bitrix24", record_id) is not None
    if entity == "contact":
        link = find_link(engine, "customer", "bitrix24", record_id)
        return link is not None and bool((link.data or {}).get("created"))
    return False


def deal_changed(ctx: TaskContext, deal_id: str, ts: Any) -> None:
    """A stage move becomes the order's status (reverse stage map) and goes to the shop."""
    engine = ctx.services.engine
    link = find_link(engine, "order", "bitrix24", deal_id)
    if link is None:
        skip("deal", "not a deal of a shop order (or our own, not linked yet)", id=deal_id)
        return
    if is_stale(link, ts):
        skip("deal", "stale event", id=deal_id)
        return
    try:
        deal = ctx.services.bitrix24.get_deal(int(deal_id))
    except PermanentError:
        skip("deal", "gone from the CRM", id=deal_id)
        return
    canonical = ctx.services.mappings.current.get("bitrix24", "deal").to_canonical(deal)
    fresh = fingerprint(canonical, DEAL_WATCH)
    if is_echo(link, fresh):
        skip("deal", "echo or no watched change", id=deal_id)
        return
    oid, status = link.canonical_id, canonical.get("status")
    with engine.begin() as connection:
        change = change_snapshot(
            connection, "order", oid, lambda current: (current or {"id": oid}) | {"status": status}
        )
        save_link(
            connection,
            "order",
            oid,
            "bitrix24",
            deal_id,
            fingerprint=fresh,
            version=version_text(canonical.get("updated_at")),
            data={"status": status},
        )
        if change.changed:
            fan_out_order(connection, ctx, oid, exclude="bitrix24")
            report_order_change(connection, ctx, change)


def contact_changed(ctx: TaskContext, contact_id: str, ts: Any) -> None:
    """Fields the CRM owns (mappings/bitrix24/contact.yaml `owner: bitrix24`) go to the shop
    customer and the Mailchimp member; a contact new to the hub is matched like any person."""
    engine = ctx.services.engine
    if is_stale(find_link(engine, "customer", "bitrix24", contact_id), ts):
        skip("contact", "stale event", id=contact_id)
        return
    try:
        contact = ctx.services.bitrix24.get_contact(int(contact_id))
    except PermanentError:
        skip("contact", "gone from the CRM", id=contact_id)
        return
    mapping = ctx.services.mappings.current.get("bitrix24", "contact")
    owned = owned_fields(mapping, "bitrix24")
    canonical = mapping.to_canonical(contact)
    ingest_customer(
        ctx,
        "bitrix24",
        contact_id,
        canonical,
        canonical.get("updated_at"),
        watched=sorted(owned),
        only_fields=owned,
    )
