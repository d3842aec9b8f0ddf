"""Back from Mailchimp: unsubscribes, bounces (cleaned), profile edits and address changes reach
the CRM contact and the shop customer.

Mailchimp's word on consent is final (research/mailchimp.md 12.4): an unsubscribe or a cleaned
address makes `marketing_consent` false in the hub, and the hub never subscribes anyone again
without a new consent. An `upemail` moves the member link to the new address and adds it as an
identity key, so the person stays one person. Events older than the one applied are dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connector.cascades import outcomes
from connector.flows.customers import fan_out_customer
from connector.flows.hub import change_snapshot, merge_values, skip
from connector.identity import (
    add_keys,
    customer_keys,
    find_link,
    is_stale,
    resolve_customer,
    save_link,
    version_text,
)
from connector.tasks import TaskContext

PROFILE_FIELDS = ("first_name", "last_name", "phone")


def mailchimp_event(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """subscribe | unsubscribe | profile | upemail | cleaned, applied to the person's snapshot."""
    kind, data, fired_at = payload["type"], payload.get("data") or {}, payload.get("fired_at")
    mapping = ctx.services.mappings.current.get("mailchimp", "member_webhook")
    canonical = mapping.to_canonical({"type": kind, "fired_at": fired_at, "data": data})
    email = str(canonical.get("email") or "").lower()
    known_as = str(data.get("old_email") or email).strip().lower()
    engine = ctx.services.engine
    link = find_link(engine, "customer", "mailchimp", known_as)
    if is_stale(link, canonical.get("updated_at") or fired_at):
        skip("mailchimp event", "stale", type=kind, email=known_as)
        return
    resolved = resolve_customer(
        engine,
        "mailchimp",
        known_as,
        email=known_as,
        phone=canonical.get("phone") if kind != "upemail" else None,
    )
    cid = resolved.canonical_id
    delta = _what_changed(kind, canonical, email)
    with engine.begin() as connection:
        change = change_snapshot(
            connection,
            "customer",
            cid,
            lambda current: merge_values(current, delta) | {"id": cid},
        )
        if kind == "upemail":
            add_keys(connection, cid, customer_keys(email=email))
        consent = change.after.get("marketing_consent")
        save_link(
            connection,
            "customer",
            cid,
            "mailchimp",
            email or known_as,
            version=version_text(canonical.get("updated_at") or fired_at),
            data={"consent": consent},
        )
        if change.changed:
            fan_out_customer(connection, ctx, cid, exclude="mailchimp")
        _cascade_consent(connection, ctx, kind, email or known_as, data)


def _cascade_consent(
    connection: Connection, ctx: TaskContext, kind: str, address: str, data: dict[str, Any]
) -> None:
    """An unsubscribe or a cleaned address stops every cascade's email to it (an opt-out of
    the medium); a new subscribe lifts an opt-out that Mailchimp itself made."""
    if not address:
        return
    at = ctx.services.queue.clock()
    if kind in ("unsubscribe", "cleaned"):
        reason = f"mailchimp {kind}" + (" (abuse)" if data.get("reason") == "abuse" else "")
        outcomes.opt_out(connection, "email", address, "mailchimp", reason, at)
    elif kind == "subscribe":
        held = outcomes.opted_out(connection, "email", address)
        if held and held.startswith("mailchimp"):
            outcomes.opt_in(connection, "email", address)


def _what_changed(kind: str, canonical: dict[str, Any], email: str) -> dict[str, Any]:
    if kind in ("unsubscribe", "cleaned"):
        return {"marketing_consent": False}
    if kind == "upemail":
        return {"email": email}
    delta = {name: canonical.get(name) for name in PROFILE_FIELDS}
    if kind == "subscribe":
        delta |= {"marketing_consent": True, "email": email}
    return delta
