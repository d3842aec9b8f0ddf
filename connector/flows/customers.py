"""Customers: one person across every system, whoever saw them first.

In: each system's handler (in its package, e.g. connector/systems/woocommerce/customers.py) maps
its record and calls `ingest_customer`, which matches it to a canonical customer
(`connector.identity`), merges it into the hub snapshot, and fans it out to a push task per
system that receives customers (its declaration's `receives`). Out: each system's own push, in
its package (connector/systems/<name>/: the CRM contact, the mailing-list member, a shop's
customer), on the exporter skeleton (connector/flows/exporter.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector import keys
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
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.mapping import MappingSet

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
