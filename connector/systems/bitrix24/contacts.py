"""The Bitrix24 contact push (`push.bitrix24.contact`): finds the contact by link, then by
Bitrix24's duplicate search (E.164 phone, lower-cased email), and creates it only when nobody
matches; fields the mappings give to the CRM (`owner: bitrix24`) are never overwritten."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector.analytics.push import contact_creation_figures, created_with
from connector.errors import PermanentError
from connector.flows.balance import balance_fields, opening_balance
from connector.flows.customers import apply_crm_change, mappings, owned_fields, record_fingerprint
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.identity import orders_of_customer
from connector.systems.bitrix24 import multifield
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.systems.bitrix24.client import Bitrix24Client


DEAL_PUSH = "push.bitrix24.deal"


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
            return _creation(push, mapping, owned, sent)
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
        data: dict[str, Any] = {"sent": sent}
        if link is None or link.external_id != str(contact_id):
            data["balance"] = None  # another contact: what the old one held tells nothing
        return Plan(
            writes,
            external_id=contact_id,
            fingerprint=_contact_fp(mapping, after, owned),
            data=data,
        )

    def linked(self, connection: Connection, push: Push, plan: Plan) -> None:
        """The figures a new contact was created with are recorded as published; a contact
        newly linked wakes the deal pushes of the customer's orders that wait for it
        (connector.flows.orders: they wait long, not in a poll loop)."""
        created_with(connection, push.canonical_id, plan.notes.get("figures") or {})
        if plan.external_id is None or (push.link and push.link.external_id == plan.external_id):
            return
        queue, systems = push.ctx.services.queue, push.ctx.services.systems
        orders = orders_of_customer(connection, push.canonical_id)
        deal_keys = [systems.push_key(DEAL_PUSH, oid) for oid in orders]
        queue.wake(connection, DEAL_PUSH, deal_keys)


def push_bitrix24_contact(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.bitrix24.contact` {id: canonical customer id}."""
    Bitrix24ContactExporter().run(ctx, payload)


def _creation(push: Push, mapping: Any, owned: set[str], sent: str) -> Plan:
    """A new contact, created whole: with the bonus balance and the analytics figures it holds
    now, so the balance and figures pushes queued with the same order have nothing to send
    (each would be one more `crm.contact.update` and an event to read back)."""
    ctx, customer, cid = push.ctx, push.record, push.canonical_id
    if customer.get("bonus_balance") is None:
        opening = opening_balance(ctx.services, cid)
        if opening is not None:
            customer = {**customer, "bonus_balance": opening}
    own = _drop_empty(mapping.to_system(customer, creating=True))
    figures = contact_creation_figures(ctx.services, cid)
    fields = {**figures, **own}
    add = Write("bitrix24", "contact", "add", None, lambda c: c.add_contact(fields))
    add.creates = True
    # `created`: its ADD event is our own and needs no read (connector.flows.crm)
    data: dict[str, Any] = {"created": True, "sent": sent, "balance": None}
    if customer.get("bonus_balance") is not None:
        data["balance"] = balance_fields(ctx.services, customer["bonus_balance"])
    plan = Plan([add], fingerprint=_contact_fp(mapping, own, owned), data=data)
    plan.notes["figures"] = figures  # recorded as published once the contact is linked
    return plan


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
