"""Customers: one person across the shop, Bitrix24, Mailchimp and POS, whoever saw them first.

In: a shop customer (WooCommerce webhook, re-read fresh; the generic contract's record) is matched
to a canonical customer (`connector.identity`), merged into the hub snapshot, and fanned out to a
push task per target system. Out: `push.bitrix24.contact` finds the contact by link, then by
Bitrix24 duplicate search (E.164 phone, lower-cased email), and creates it only when nobody
matches; `push.mailchimp.member` makes the person an e-commerce customer without opt-in, and a
subscribed member only with marketing consent (research/mailchimp.md 3, 12.4); each shop's own
push (connector/systems/woocommerce/push.py, connector/systems/shop/push.py) writes CRM-owned
changes back to the shop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector import keys
from connector.errors import PermanentError
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import (
    change_snapshot,
    changed_since,
    conflicting_fields,
    fan_out,
    load_snapshot,
    merge_values,
    skip,
    typed,
)
from connector.identity import (
    find_link,
    fingerprint,
    is_echo,
    is_stale,
    resolve_customer,
    save_link,
    version_text,
)
from connector.systems.bitrix24 import multifield
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.mapping import MappingSet
    from connector.systems.bitrix24.client import Bitrix24Client
    from connector.systems.mailchimp.client import MailchimpClient

VOLATILE = ("id", "updated_at", "created_at", "orders_count", "total_spent", "custom")
MEMBER_FIELDS = ("email", "marketing_consent", "first_name", "last_name", "phone")


def record_fingerprint(canonical: dict[str, Any], fields: Any = None) -> str:
    """Hash of what a system says about a person (volatile bookkeeping left out)."""
    if fields is not None:
        return fingerprint(canonical, fields)
    return fingerprint({k: v for k, v in canonical.items() if k not in VOLATILE})


def owned_fields(mapping: Any, system: str) -> set[str]:
    """Canonical fields the mapping file says `system` owns (`owner: <system>`)."""
    return {root for rule in mapping.rules if rule.owner == system for root in rule.roots}


def mappings(ctx: TaskContext) -> MappingSet:
    return ctx.services.mappings.current


# --------------------------------------------------------------------------- in


def ingest_customer(
    ctx: TaskContext,
    system: str,
    external_id: Any,
    canonical: dict[str, Any],
    version: Any,
    *,
    watched: Any = None,
    only_fields: set[str] | None = None,
) -> str | None:
    """Applies a system's customer record to the hub; returns the canonical id, or None when the
    record is stale or changes nothing (an echo of our own write, a repeat)."""
    engine = ctx.services.engine
    link = find_link(engine, "customer", system, external_id)
    if is_stale(link, version):
        skip("customer", "stale", system=system, id=external_id)
        return None
    fresh = record_fingerprint(canonical, watched)
    if is_echo(link, fresh):
        skip("customer", "unchanged or echo", system=system, id=external_id)
        return None
    seen = typed("customer", (link.data or {}).get("seen")) if link else None
    delta = {k: v for k, v in changed_since(canonical, seen).items() if k not in VOLATILE}
    resolved = resolve_customer(
        engine,
        system,
        external_id,
        email=canonical.get("email"),
        phone=canonical.get("phone"),
        card=canonical.get("loyalty_card"),
    )
    if only_fields is not None and not resolved.created:
        delta = {k: v for k, v in delta.items() if k in only_fields}
    cid = resolved.canonical_id
    kept: set[str] = set()
    # a sales channel's edits yield to the owners the mappings name (names: CRM, consent: Mailchimp)
    if system in ctx.services.systems.sales_channels():
        source = mappings(ctx).get(system, "customer")
        hub = load_snapshot(engine, "customer", cid)
        kept = conflicting_fields(mappings(ctx), source, delta, seen, hub)
        delta = {k: v for k, v in delta.items() if k not in kept}
    with engine.begin() as connection:
        change = change_snapshot(
            connection,
            "customer",
            cid,
            lambda current: merge_values(current, delta) | {"id": cid},
        )
        save_link(
            connection,
            "customer",
            cid,
            system,
            external_id,
            fingerprint=fresh,
            version=version_text(version),
            data={"seen": {k: v for k, v in canonical.items() if k != "id"}},
        )
        if change.changed - {"updated_at"} or resolved.created or kept:
            fan_out_customer(connection, ctx, cid, exclude=None if kept else system)
    return cid


def fan_out_customer(connection: Connection, ctx: Any, cid: str, exclude: str | None) -> None:
    """One push task per target system that should hear about this person."""
    fan_out(connection, ctx, "customer", cid, exclude)


def woocommerce_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A WooCommerce customer webhook: only a trigger; the customer is read fresh."""
    if payload.get("event") == "deleted":
        skip("customer", "deleted in the shop", id=payload.get("id"))
        return
    link = find_link(ctx.services.engine, "customer", "woocommerce", payload["id"])
    if is_stale(link, payload.get("modified")):
        skip("customer", "stale webhook", id=payload["id"])
        return
    try:
        record = ctx.services.woocommerce.get_customer(int(payload["id"]))
    except PermanentError as error:
        if error.status == 404:
            skip("customer", "gone from the shop", id=payload["id"])
            return
        raise
    canonical = mappings(ctx).get("woocommerce", "customer").to_canonical(record)
    ingest_customer(ctx, "woocommerce", payload["id"], canonical, record.get("date_modified_gmt"))


def shop_customer(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The generic contract's customer: the record itself is the event (no re-read)."""
    data = payload["data"]
    canonical = mappings(ctx).get("shop", "customer").to_canonical(data)
    version = data.get("updated_at") or payload.get("occurred_at")
    ingest_customer(ctx, "shop", str(data["id"]), canonical, version)


# --------------------------------------------------------------------------- Bitrix24


class Bitrix24ContactExporter(Exporter):
    """Creates or updates the person's Bitrix24 contact, never making a second one."""

    system, entity = "bitrix24", "customer"

    def plan(self, push: Push) -> Plan | None:
        ctx, customer, link = push.ctx, push.record, push.link
        client = ctx.services.bitrix24
        mapping = mappings(ctx).get("bitrix24", "contact")
        owned = owned_fields(mapping, "bitrix24")
        # what we would send; the same as last time means nothing to write, so nothing to read
        sent = record_fingerprint(_drop_empty(mapping.to_system(customer)))
        if link is not None and (link.data or {}).get("sent") == sent:
            return None
        contact_id, existing = _find_contact(client, link, customer)
        if existing is None:
            fields = _drop_empty(mapping.to_system(customer, creating=True))
            add = Write("bitrix24", "contact", "add", None, lambda c: c.add_contact(fields))
            add.creates = True
            # `created`: its ADD event is our own and needs no read (connector.flows.crm)
            data = {"created": True, "sent": sent}
            return Plan([add], fingerprint=_contact_fp(mapping, fields, owned), data=data)
        conflicts = set()
        if link and link.fingerprint and _contact_fp(mapping, existing, owned) != link.fingerprint:
            conflicts = owned  # a manager edited them since our last write: the CRM keeps them
            apply_crm_change(ctx, "contact", contact_id)
        fields = _contact_changes(mapping, customer, existing, conflicts)
        writes = []
        if fields:
            writes.append(
                Write(
                    "bitrix24",
                    "contact",
                    "update",
                    str(contact_id),
                    lambda c: c.update_contact(contact_id, fields),
                    {"fields": sorted(fields)},
                )
            )
        if conflicts:  # the manager's edit stays unseen until the CRM flow applies it
            return Plan(writes, external_id=contact_id)
        after = {**existing, **fields}
        return Plan(
            writes,
            external_id=contact_id,
            fingerprint=_contact_fp(mapping, after, owned),
            data={"sent": sent},
        )


def push_bitrix24_contact(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.bitrix24.contact` {id: canonical customer id}."""
    Bitrix24ContactExporter().run(ctx, payload)


def apply_crm_change(ctx: TaskContext, entity: str, record_id: Any) -> None:
    """Queues the CRM flow for a record a manager changed (its event may be queued, or lost:
    Bitrix24 never re-sends), in that record's order."""
    with ctx.services.engine.begin() as connection:
        ctx.services.queue.enqueue(
            "bitrix24.event",
            {
                "event": f"ONCRM{entity.upper()}UPDATE",
                "entity": entity,
                "id": str(record_id),
                "ts": None,
            },
            ordering_key=keys.record(entity, "bitrix24", record_id),
            connection=connection,
        )


def _find_contact(client: Bitrix24Client, link: Any, customer: dict[str, Any]) -> tuple[Any, Any]:
    """The linked contact, else one Bitrix24's duplicate search finds by phone or email."""
    if link is not None:
        try:
            return int(link.external_id), client.get_contact(int(link.external_id))
        except PermanentError:
            pass  # deleted in the CRM: find or make another
    phones = [customer["phone"]] if customer.get("phone") else []
    emails = [customer["email"]] if customer.get("email") else []
    found = client.find_contacts_by_comm(phones=phones, emails=emails) if phones or emails else []
    if not found:
        return None, None
    contact_id = min(found)
    return contact_id, client.get_contact(contact_id)


def _contact_fp(mapping: Any, record: dict[str, Any], owned: set[str]) -> str:
    return record_fingerprint(mapping.to_canonical(record), sorted(owned))


def _drop_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _contact_changes(
    mapping: Any, customer: dict[str, Any], existing: dict[str, Any], conflicts: set[str]
) -> dict[str, Any]:
    """The fields whose value differs from the contact's; a phone or email it already holds in
    any entry is not sent again (re-sending without the entry's ID would duplicate it)."""
    wanted = _drop_empty(mapping.to_system(customer, existing=existing, conflicts=conflicts))
    changes = {}
    for name, value in wanted.items():
        if name in (multifield.PHONE, multifield.EMAIL):
            target = next((i for i in value if i.get("VALUE_TYPE") == "WORK"), None)
            held = {
                multifield.comparable(name, str(i.get("VALUE", "")))
                for i in existing.get(name) or []
            }
            if target is None or multifield.comparable(name, target["VALUE"]) in held:
                continue
            changes[name] = [target]
        elif str(existing.get(name) if existing.get(name) is not None else "") != str(value):
            changes[name] = value
    return changes


# --------------------------------------------------------------------------- Mailchimp


class MailchimpMemberExporter(Exporter):
    """E-commerce customer (opt_in_status from consent) plus member merge fields; the member's
    status changes only when consent changed, and never to subscribed without consent."""

    system, entity = "mailchimp", "customer"

    def plan(self, push: Push) -> Plan | None:
        customer, link, ctx = push.record, push.link, push.ctx
        if not customer.get("email"):
            return None
        settings = ctx.services.settings
        list_id, email = settings.mailchimp_audience, customer["email"]
        writes = []
        if link is not None and link.external_id != email:
            old = link.external_id
            writes.append(
                Write(
                    "mailchimp",
                    "member",
                    "rename",
                    email,
                    call=lambda client: _change_member_email(client, list_id, old, email),
                    audit=False,
                )
            )
        consent = customer.get("marketing_consent")
        store_customer = (
            mappings(ctx)
            .get("mailchimp", "customer")
            .to_system(customer | {"id": push.canonical_id})
        )
        store_id = settings.mailchimp_store_id
        writes.append(
            Write(
                "mailchimp",
                "customer",
                "upsert",
                push.canonical_id,
                call=lambda client: client.upsert_customer(store_id, store_customer),
                audit=False,
            )
        )
        member = mappings(ctx).get("mailchimp", "member").to_system(customer)
        last_consent = (link.data or {}).get("consent") if link else None
        status = None  # only a change of consent changes the status; "no" on a form is not one
        if (
            consent is True
            and last_consent is not True
            or consent is False
            and last_consent is True
        ):
            status = member.get("status")
        status_if_new = "subscribed" if consent is True else "transactional"
        extra = {k: member[k] for k in ("language",) if member.get(k)}
        merge_fields = member.get("merge_fields")

        def upsert_member(client: MailchimpClient) -> None:
            try:
                client.upsert_member(
                    list_id, email, merge_fields, status_if_new, status=status, **extra
                )
            except PermanentError as error:
                if status is None or error.status != 400:
                    raise
                # Mailchimp keeps its own word on consent (compliance state, cleaned): leave it
                client.upsert_member(list_id, email, merge_fields, status_if_new, **extra)

        writes.append(
            Write("mailchimp", "member", "upsert", email, upsert_member, {"status": status})
        )
        return Plan(
            writes,
            external_id=email,
            fingerprint=record_fingerprint(customer, MEMBER_FIELDS),
            data={"consent": consent},
        )


def push_mailchimp_member(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.mailchimp.member` {id: canonical customer id}."""
    MailchimpMemberExporter().run(ctx, payload)


def _change_member_email(client: MailchimpClient, list_id: str, old: str, new: str) -> None:
    try:
        client.change_member_email(list_id, old, new)
    except PermanentError as error:
        if error.status not in (400, 404):
            raise
