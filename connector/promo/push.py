"""Coupons to Mailchimp: one promo rule and its one promo code per coupon, written only when
they differ from what the link says Mailchimp holds; and the expiry sweep."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from connector.audit import record_write
from connector.errors import MappingError
from connector.flows.hub import load_snapshot, push, skip
from connector.identity import fingerprint, link_of, save_link
from connector.promo.coupons import DESCRIPTION_MAX, ENTITY, PUSH_KIND, usable
from connector.store.tables import promo_codes

if TYPE_CHECKING:
    from connector.tasks import TaskContext

HUNDRED = Decimal(100)


def mailchimp_terms(coupon: dict[str, Any], now: float, shop_url: str | None) -> dict[str, Any]:
    """The coupon as Mailchimp's promo model wants it: a percentage as 0.0-1.0, free shipping
    as a fixed 0 on shipping, the code's URL (required) from the shop's when it has none, and
    `enabled` from the rules of `usable`. Bad input is a MappingError naming the field."""
    code = str(coupon.get("code") or "").strip()
    if not code:
        raise MappingError(f"coupon {coupon.get('id')}: code: missing")
    if len(code) > 50:
        raise MappingError(f"coupon {coupon.get('id')}: code: longer than Mailchimp's 50")
    amount = coupon.get("amount")
    try:
        amount = Decimal(str(amount if amount not in (None, "") else 0))
    except ArithmeticError:
        raise MappingError(f"coupon {coupon.get('id')}: amount: not a number: {amount!r}") from None
    kind, target = coupon.get("type") or "fixed", coupon.get("target") or "total"
    if kind == "percentage":
        if not 0 <= amount <= HUNDRED:
            raise MappingError(f"coupon {coupon.get('id')}: amount: {amount} is not 0-100 %")
        amount = amount / HUNDRED
    if coupon.get("free_shipping") and not amount:
        kind, target = "fixed", "shipping"  # Mailchimp: "For free shipping set type to fixed"
    url = coupon.get("url") or (f"{shop_url.rstrip('/')}/?coupon={code}" if shop_url else None)
    if not url:
        raise MappingError(f"coupon {coupon.get('id')}: url: none, and no shop URL to use")
    description = str(coupon.get("description") or code)[:DESCRIPTION_MAX]
    return coupon | {
        "code": code,
        "amount": amount,
        "type": kind,
        "target": target,
        "url": url,
        "description": description,
        "enabled": usable(coupon, now),
    }


def push_mailchimp_promo(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.mailchimp.promo` {id: canonical coupon id}."""
    cid = str(payload["id"])
    services = ctx.services
    engine = services.engine
    coupon = load_snapshot(engine, ENTITY, cid)
    if coupon is None:
        skip("mailchimp promo", "no such coupon", id=cid)
        return
    settings = services.settings
    terms = mailchimp_terms(coupon, services.queue.clock(), settings.woocommerce_url)
    mappings = services.mappings.current
    rule = mappings.get("mailchimp", "promo_rule").to_system(terms)
    code = mappings.get("mailchimp", "promo_code").to_system(terms)
    written = fingerprint({"rule": rule, "code": code})
    link = link_of(engine, ENTITY, cid, "mailchimp")
    if link is not None and link.fingerprint == written:
        skip("mailchimp promo", "Mailchimp holds it already", id=cid)
        return
    store = settings.mailchimp_store_id
    client = services.mailchimp
    client.upsert_promo_rule(store, rule)
    client.upsert_promo_code(store, str(rule["id"]), code)
    for entity in ("promo_rule", "promo_code"):
        record_write(
            engine,
            system="mailchimp",
            entity=entity,
            action="upsert",
            external_id=cid,
            canonical_id=cid,
            task_id=ctx.task.id,
            detail={"enabled": terms["enabled"], "usage_count": code.get("usage_count")},
        )
    save_link(engine, ENTITY, cid, "mailchimp", cid, fingerprint=written)


def expire_promos(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `promo.expire` (a job every 15 minutes): codes whose end has come are disabled in
    the store and pushed (`enabled: false`); no shop says when a coupon expires."""
    engine = ctx.services.engine
    now = ctx.services.queue.clock()
    with engine.begin() as connection:
        due = connection.scalars(
            select(promo_codes.c.canonical_id).where(
                promo_codes.c.enabled == 1,
                promo_codes.c.expires_at.is_not(None),
                promo_codes.c.expires_at <= now,
            )
        ).all()
        if not due:
            return
        connection.execute(
            update(promo_codes).where(promo_codes.c.canonical_id.in_(due)).values(enabled=0)
        )
        if ctx.services.enabled("mailchimp"):
            for cid in due:
                push(connection, ctx, PUSH_KIND, cid)
