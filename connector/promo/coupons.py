"""Shop coupons in the hub: snapshot, `promo_codes` row, and when a code is usable."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from connector import keys
from connector.flows.hub import change_snapshot, load_snapshot, push, skip
from connector.identity import as_moment, find_link, is_stale, save_link, version_text
from connector.store import reading
from connector.store.tables import promo_codes

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from connector.tasks import TaskContext

ENTITY = "coupon"
PUSH_KIND = "push.mailchimp.promo"
DESCRIPTION_MAX = 255  # Mailchimp promo rule description (research/mailchimp.md 3)


def coupon_id_for(source: str, coupon_id: Any) -> str:
    """The canonical id of a shop's coupon; also the Mailchimp promo rule and code id (<= 50)."""
    return f"{source}-{coupon_id}"


def code_key(code: str) -> str:
    """Shops compare coupon codes without case (WooCommerce lowercases them)."""
    return code.strip().lower()


def usable(coupon: dict[str, Any], now: float) -> bool:
    """A code can be redeemed: not deleted, not expired, not used up."""
    if (coupon.get("custom") or {}).get("deleted"):
        return False
    expires = as_moment(coupon.get("expires_at"))
    if expires is not None and expires.timestamp() <= now:
        return False
    limit, used = coupon.get("usage_limit"), coupon.get("usage_count") or 0
    return not (limit and used >= limit)


def apply_coupon(
    ctx: TaskContext, source: str, external_id: str, canonical: dict[str, Any], version: Any
) -> str | None:
    """A shop's coupon as read now becomes the hub's; queues the Mailchimp push when anything
    changed. Returns the canonical id, None when the read is older than one applied."""
    engine = ctx.services.engine
    link = find_link(engine, ENTITY, source, external_id)
    if is_stale(link, version):
        skip("coupon", "stale", system=source, id=external_id)
        return None
    cid = link.canonical_id if link else coupon_id_for(source, external_id)
    now = ctx.services.queue.clock()
    with engine.begin() as connection:
        change = change_snapshot(
            connection,
            ENTITY,
            cid,
            lambda cur: _snapshot(cur, canonical, cid, source, external_id, False),
        )
        coupon = change.after
        coupon["enabled"] = usable(coupon, now)
        _save_row(connection, cid, source, external_id, coupon, now)
        save_link(connection, ENTITY, cid, source, external_id, version=version_text(version))
        if change.changed - {"updated_at"} and ctx.services.enabled("mailchimp"):
            push(connection, ctx, PUSH_KIND, cid)
    return cid


def _snapshot(
    current: dict[str, Any] | None,
    read: dict[str, Any],
    cid: str,
    source: str,
    external_id: str,
    deleted: bool,
) -> dict[str, Any]:
    custom = {**((current or {}).get("custom") or {}), **(read.get("custom") or {})}
    custom |= {"source": {"system": source, "id": external_id}, "deleted": deleted}
    return {**read, "id": cid, "custom": custom}


def _save_row(
    connection: Connection,
    cid: str,
    source: str,
    external_id: str,
    coupon: dict[str, Any],
    now: float,
) -> None:
    expires = as_moment(coupon.get("expires_at"))
    values = {
        "source": source,
        "coupon_id": external_id,
        "code_key": code_key(str(coupon.get("code") or "")),
        "type": coupon.get("type") or "fixed",
        "expires_at": expires.timestamp() if expires else None,
        "enabled": int(bool(coupon["enabled"])),
        "deleted": int(bool((coupon.get("custom") or {}).get("deleted"))),
        "updated_at": time.time(),
    }
    found = connection.execute(
        update(promo_codes).where(promo_codes.c.canonical_id == cid).values(**values)
    )
    if not found.rowcount:
        connection.execute(insert(promo_codes).values(canonical_id=cid, **values))


def delete_coupon(ctx: TaskContext, source: str, external_id: str) -> str | None:
    """The shop deleted the coupon: Mailchimp keeps the code, disabled (orders refer to it)."""
    engine = ctx.services.engine
    link = find_link(engine, ENTITY, source, external_id)
    cid = link.canonical_id if link else coupon_id_for(source, external_id)
    current = load_snapshot(engine, ENTITY, cid)
    if current is None:
        skip("coupon", "deleted before we knew it", system=source, id=external_id)
        return None
    now = ctx.services.queue.clock()
    with engine.begin() as connection:
        change = change_snapshot(
            connection,
            ENTITY,
            cid,
            lambda cur: _snapshot(cur, cur or current, cid, source, external_id, True),
        )
        coupon = change.after
        coupon["enabled"] = False
        _save_row(connection, cid, source, external_id, coupon, now)
        if change.changed and ctx.services.enabled("mailchimp"):
            push(connection, ctx, PUSH_KIND, cid)
    return cid


# --------------------------------------------------------------------------- orders


def coupons_of_codes(target: Engine | Connection, codes: list[str]) -> dict[str, Any]:
    """`promo_codes` rows by lowercased code, for the codes an order names."""
    wanted = sorted({code_key(str(c)) for c in codes if str(c).strip()})
    if not wanted:
        return {}
    query = select(promo_codes).where(promo_codes.c.code_key.in_(wanted))
    if isinstance(target, Connection):
        rows = target.execute(query).all()
    else:
        with reading(target) as connection:
            rows = connection.execute(query).all()
    return {row.code_key: row for row in rows}


def with_promo_types(engine: Engine, order: dict[str, Any]) -> dict[str, Any]:
    """The order with each `custom.promos[]` typed as its coupon is (fixed when unknown): the
    Mailchimp order's `promos[].type`."""
    promos = (order.get("custom") or {}).get("promos") or []
    if not promos:
        return order
    known = coupons_of_codes(engine, [p.get("code") or "" for p in promos])
    typed = []
    for promo in promos:
        row = known.get(code_key(str(promo.get("code") or "")))
        amount = promo.get("amount")
        typed.append(
            {
                **promo,
                "type": promo.get("type") or (row.type if row is not None else "fixed"),
                "amount": Decimal(str(amount)) if amount not in (None, "") else Decimal(0),
            }
        )
    return order | {"custom": {**order["custom"], "promos": typed}}


def refresh_usage(ctx: TaskContext, order: dict[str, Any]) -> int:
    """Re-reads the coupons an order used from their shop, so usage counts (and a code used up)
    reach Mailchimp; once per order and status. Returns the number of re-reads queued."""
    codes = list(order.get("coupons") or [])
    codes += [p.get("code") for p in (order.get("custom") or {}).get("promos") or []]
    codes = [c for c in codes if c]
    if not codes:
        return 0  # most orders: no store transaction at all
    engine = ctx.services.engine
    queued = 0
    seen_in = f"order-{order.get('id')}-{order.get('status')}"
    with engine.begin() as connection:
        for row in coupons_of_codes(connection, codes).values():
            system = ctx.services.systems.get(row.source)
            kind = f"{row.source}.coupon"
            if row.deleted or kind not in system.task_handlers:
                continue
            ctx.services.queue.enqueue(
                kind,
                {"id": row.coupon_id, "via": "order"},
                dedupe_key=keys.synced(row.source, "coupon", row.coupon_id, seen_in),
                ordering_key=keys.record("coupon", row.source, row.coupon_id),
                connection=connection,
            )
            queued += 1
    return queued
