"""Carts: a shop's open basket becomes a Mailchimp e-commerce cart with a checkout URL, so
Mailchimp's abandoned-cart automation can fire; a bought or emptied one is deleted.

WooCommerce sends no cart webhooks; the generic contract does (`cart.updated`, `cart.deleted`,
`cart.converted`...). Mailchimp carts never expire and never turn into orders: the flow deletes
them on purchase (research/mailchimp.md 3, "What makes the abandoned-cart automation fire"). A
cart of a customer whose last order is newer than the cart is not created again.
"""

from __future__ import annotations

from typing import Any

from connector.audit import record_write
from connector.flows.hub import change_snapshot, load_snapshot, merge_values, push, skip
from connector.flows.orders import ensure_products
from connector.identity import (
    as_moment,
    find_link,
    fingerprint,
    is_echo,
    is_stale,
    jsonable,
    link_of,
    order_id_for,
    resolve_customer,
    save_link,
    version_text,
)
from connector.tasks import TaskContext

CLOSING_ACTIONS = ("deleted", "converted", "emptied", "ordered", "purchased", "closed")


def shop_cart(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The generic contract's cart: the record is the event; the latest version wins."""
    data, action = payload["data"], str(payload.get("action") or "")
    canonical = ctx.services.mappings.current.get("shop", "cart").to_canonical(data)
    version = data.get("updated_at") or payload.get("occurred_at")
    engine, shop_id = ctx.services.engine, str(data["id"])
    link = find_link(engine, "cart", "shop", shop_id)
    if is_stale(link, version):
        skip("cart", "stale", id=shop_id)
        return
    is_open = action not in CLOSING_ACTIONS and bool(canonical.get("lines"))
    fresh = fingerprint({**canonical, "updated_at": None, "open": is_open})
    if is_echo(link, fresh):
        skip("cart", "unchanged", id=shop_id)
        return
    resolved = resolve_customer(
        engine,
        "shop",
        canonical.get("customer_id"),
        email=canonical.get("email"),
        phone=canonical.get("phone"),
    )
    cid, cart_id = resolved.canonical_id, order_id_for("shop", shop_id)
    person = {"email": canonical.get("email"), "phone": canonical.get("phone")}
    with engine.begin() as connection:
        change_snapshot(
            connection,
            "customer",
            cid,
            lambda current: merge_values(current, person, fill_only=True) | {"id": cid},
        )
        change_snapshot(
            connection,
            "cart",
            cart_id,
            lambda current: (
                canonical | {"id": cart_id, "customer_id": cid, "custom": {"open": is_open}}
            ),
        )
        save_link(
            connection,
            "cart",
            cart_id,
            "shop",
            shop_id,
            fingerprint=fresh,
            version=version_text(version),
        )
        if ctx.services.enabled("mailchimp"):
            push(connection, ctx, "push.mailchimp.cart", cart_id)
        _report_to_cascades(connection, ctx, cid, cart_id, is_open, action, version)


def _report_to_cascades(
    connection: Any, ctx: TaskContext, cid: str, cart_id: str, is_open: bool, action: str,
    version: Any,
) -> None:  # fmt: skip
    """An open cart may start an abandoned-cart cascade; a closed one ends it."""
    from connector.cascades.engine import CART_CLOSED, CART_UPDATED, notify

    moment = as_moment(jsonable(version))
    event = CART_UPDATED if is_open else CART_CLOSED
    data = {"open": is_open, "action": action, "version": version_text(version)}
    at = moment.timestamp() if moment else None
    notify(ctx.services, connection, event, cid, cart_id, data, at)


def push_mailchimp_cart(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Upserts an open cart (products first); deletes a closed one, or one a purchase outdated."""
    engine, cart_id = ctx.services.engine, payload["id"]
    cart = load_snapshot(engine, "cart", cart_id)
    if cart is None:
        return
    client, store = ctx.services.mailchimp, ctx.services.settings.mailchimp_store_id
    cid = cart.get("customer_id")
    customer = load_snapshot(engine, "customer", cid) if cid else None
    link = link_of(engine, "cart", cart_id, "mailchimp")
    if not (cart.get("custom") or {}).get("open") or _bought_since(customer, cart):
        if link is not None and link.data.get("open"):
            client.delete_cart(store, cart_id)
            record_write(
                engine,
                system="mailchimp",
                entity="cart",
                action="delete",
                external_id=cart_id,
                canonical_id=cart_id,
                task_id=ctx.task.id,
            )
            save_link(engine, "cart", cart_id, "mailchimp", cart_id, data={"open": False})
        return
    email = (customer or {}).get("email") or cart.get("email")
    if not email:
        skip("mailchimp cart", "no email: no abandoned-cart email possible", cart=cart_id)
        return
    ensure_products(ctx, cart.get("lines") or [])
    body = ctx.services.mappings.current.get("mailchimp", "cart").to_system(
        cart | {"customer_id": cid, "email": email}
    )
    written = fingerprint(body)
    if link is not None and link.fingerprint == written and link.data.get("open"):
        return
    client.upsert_cart(store, body)
    record_write(
        engine,
        system="mailchimp",
        entity="cart",
        action="upsert",
        external_id=cart_id,
        canonical_id=cart_id,
        task_id=ctx.task.id,
    )
    save_link(
        engine,
        "cart",
        cart_id,
        "mailchimp",
        cart_id,
        fingerprint=written,
        data={"open": True, "customer_id": cid},
    )


def _bought_since(customer: dict[str, Any] | None, cart: dict[str, Any]) -> bool:
    """Whether the customer ordered after the cart was last changed."""
    ordered = as_moment(((customer or {}).get("custom") or {}).get("last_order_at"))
    changed = as_moment(jsonable(cart.get("updated_at") or cart.get("created_at")))
    return bool(ordered and changed and ordered >= changed)
