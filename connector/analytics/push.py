"""Writes customers' figures to the Bitrix24 contact and the Mailchimp member: only the fields
whose value differs from what was last written there (`customer_figures.published`).

Tasks `push.bitrix24.figures` and `push.mailchimp.figures` take `{"ids": [customer ids]}`: one
customer after an order (coalesced), up to 50 after the nightly run. Bitrix24 gets one `batch`
call per task (within its rate limit: 50 contacts a call); Mailchimp a member update each, plus
the segment tag moved (the previous segment's tag removed) when the segment changed. A customer
not yet linked to the system is skipped in a batch and waited for alone (its contact or member
push is queued with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, update

from connector.analytics.keeper import PUSH_BITRIX24, published_values
from connector.analytics.rules import AnalyticsRules, rules_for
from connector.audit import record_write
from connector.errors import ConnectorError, PermanentError
from connector.flows.hub import load_snapshot, skip, wait_for_dependency
from connector.identity import link_of
from connector.store import reading
from connector.store.tables import customer_figures
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services


def _rows(engine: Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    with reading(engine) as connection:
        rows = connection.execute(
            select(customer_figures).where(customer_figures.c.customer_id.in_(ids))
        )
        return {row.customer_id: row._asdict() for row in rows}


def _save(target: Engine | Connection, cid: str, system: str, written: Mapping[str, Any]) -> None:
    """Remembers what was written to `system` (read fresh: the other system's entry stays)."""
    if isinstance(target, Engine):
        with target.begin() as connection:
            _save(connection, cid, system, written)
        return
    cf = customer_figures
    held = target.execute(select(cf.c.published).where(cf.c.customer_id == cid)).scalar()
    published = dict(held or {})
    published[system] = dict(written)
    target.execute(update(cf).where(cf.c.customer_id == cid).values(published=published))


def _reachable(engine: Engine, cid: str, keys: tuple[str, ...]) -> bool:
    """Whether the customer's contact or member is coming (its push needs one of `keys`); a
    customer the system will never hold is skipped, not waited for."""
    customer = load_snapshot(engine, "customer", cid) or {}
    return any(customer.get(key) for key in keys)


def _value(value: Any) -> Any:
    return "" if value is None else value


def bitrix24_fields(rules: AnalyticsRules, row: Mapping[str, Any]) -> dict[str, Any]:
    shown = published_values(row)
    return {name: _value(shown.get(figure)) for figure, name in rules.bitrix24.items()}


def mailchimp_fields(rules: AnalyticsRules, row: Mapping[str, Any]) -> dict[str, Any]:
    shown = published_values(row)
    return {tag: _value(shown.get(figure)) for figure, tag in rules.mailchimp_fields.items()}


def _changed(wanted: Mapping[str, Any], held: Mapping[str, Any] | None) -> dict[str, Any]:
    held = held or {}
    return {k: v for k, v in wanted.items() if k not in held or held[k] != v}


def contact_creation_figures(services: Services, cid: str) -> dict[str, Any]:
    """The figures fields a new Bitrix24 contact is created with (none before a counted order,
    or when analytics writes nothing to the CRM); `created_with` then records them as written,
    so the figures push queued with the order finds nothing left to send."""
    rules = rules_for(services.settings)
    if PUSH_BITRIX24 not in services.registry or not rules.bitrix24:
        return {}
    row = _rows(services.engine, [cid]).get(cid)
    return bitrix24_fields(rules, row) if row is not None else {}


def created_with(connection: Connection, cid: str, figures: Mapping[str, Any]) -> None:
    """Records the figures a new contact was created with as published to Bitrix24."""
    if figures:
        _save(connection, cid, "bitrix24", figures)


def push_bitrix24_figures(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Updates the contacts' analytics fields in one `batch` call."""
    from connector.systems.bitrix24 import Command

    services, engine = ctx.services, ctx.services.engine
    rules = rules_for(services.settings)
    ids = [str(i) for i in payload.get("ids") or []]
    rows = _rows(engine, ids)
    commands, plans = [], []
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            continue
        link = link_of(engine, "customer", cid, "bitrix24")
        if link is None:
            if len(ids) == 1 and _reachable(engine, cid, ("email", "phone")):
                wait_for_dependency(ctx, f"the Bitrix24 contact of customer {cid}")
            skip("figures", "no Bitrix24 contact yet", customer=cid)
            _save(engine, cid, "bitrix24", {})  # tried: the next change writes every field
            continue
        wanted = bitrix24_fields(rules, row)
        fields = _changed(wanted, (row.get("published") or {}).get("bitrix24"))
        if not fields:
            continue
        commands.append(
            Command("crm.contact.update", {"id": int(link.external_id), "fields": fields})
        )
        plans.append((cid, link.external_id, wanted, sorted(fields)))
    if not commands:
        return
    failures: list[ConnectorError] = []
    for (cid, contact, wanted, names), result in zip(
        plans, services.bitrix24.batch(commands), strict=True
    ):
        if result.error is not None:
            if services.bitrix24.contact_was_deleted(int(contact), result.error):
                skip("figures", "the Bitrix24 contact was deleted", customer=cid)
                _save(engine, cid, "bitrix24", {})  # the recreated contact gets every field
            else:
                failures.append(result.error)
            continue
        _save(engine, cid, "bitrix24", wanted)
        record_write(
            engine,
            system="bitrix24",
            entity="contact",
            action="figures",
            external_id=str(contact),
            canonical_id=cid,
            task_id=ctx.task.id,
            detail={"fields": names},
        )
    if failures:  # the written ones are saved: a retry sends only the others
        transient = [e for e in failures if not isinstance(e, PermanentError)]
        raise (transient or failures)[0]


def push_mailchimp_figures(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Updates the members' merge fields and moves their segment tag."""
    services, engine = ctx.services, ctx.services.engine
    rules = rules_for(services.settings)
    client, list_id = services.mailchimp, services.settings.mailchimp_audience
    ids = [str(i) for i in payload.get("ids") or []]
    rows = _rows(engine, ids)
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            continue
        link = link_of(engine, "customer", cid, "mailchimp")
        if link is None:
            skip("figures", "no Mailchimp member yet", customer=cid)
            _save(engine, cid, "mailchimp", {})  # tried: the next change writes every field
            continue
        held = (row.get("published") or {}).get("mailchimp") or {}
        merge = mailchimp_fields(rules, row)
        changed = _changed(merge, held.get("merge"))
        tag = rules.tag(row["segment"]) if row.get("segment") else None
        if not changed and tag == held.get("tag"):
            continue
        email = link.external_id
        if changed:
            client.upsert_member(list_id, email, changed, "transactional")
        if tag != held.get("tag"):
            old = held.get("tag")
            client.update_member_tags(
                list_id, email, active=[tag] if tag else [], inactive=[old] if old else []
            )
        _save(engine, cid, "mailchimp", {"merge": merge, "tag": tag})
        record_write(
            engine,
            system="mailchimp",
            entity="member",
            action="figures",
            external_id=email,
            canonical_id=cid,
            task_id=ctx.task.id,
            detail={"fields": sorted(changed), "tag": tag},
        )
