"""Control routes that act as a person in the shop, so the right webhooks fire.

A shopper registers, fills a cart (carts are not a REST resource; they live only here), checks out
as a guest or as a registered customer, pays, cancels; the shop manager changes a status, refunds,
and adds webhooks in the admin screen (with the sandbox's webhook secret). Each route answers once
the webhooks it fired were delivered, with the result of each delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from connector_sandbox.common import Outbox, md5_hex
from connector_sandbox.woocommerce.hooks import TOPIC_HOOKS, Webhooks, webhook_view
from connector_sandbox.woocommerce.store import ShopState, WooError

View = Callable[[str, dict[str, Any]], dict[str, Any]]


def blueprint(state: ShopState, webhooks: Webhooks, outbox: Outbox, view: View) -> Blueprint:
    bp = Blueprint("woocommerce_sandbox", __name__, url_prefix="/_sandbox")

    @bp.before_request
    def remember_outbox() -> None:
        g.delivery_mark = outbox.sequence

    def done(payload: dict[str, Any], status: int = 200) -> Response:
        """Answers once the webhooks this action fired were delivered, with their results."""
        outbox.wait()
        payload["deliveries"] = [
            {k: d[k] for k in ("kind", "url", "status", "error")}
            for d in outbox.history(since=g.delivery_mark)
        ]
        return jsonify(payload), status  # type: ignore[return-value]

    def data() -> dict[str, Any]:
        return request.get_json(silent=True) or {}

    @bp.errorhandler(WooError)
    def refusal(error: WooError) -> Response:
        return jsonify(error.body()), error.status  # type: ignore[return-value]

    @bp.post("/shopper/register")
    def register() -> Response:
        body = data()
        billing = body.get("billing") or {}
        billing.setdefault("email", body.get("email", ""))
        billing.setdefault("first_name", body.get("first_name", ""))
        billing.setdefault("last_name", body.get("last_name", ""))
        if body.get("phone"):
            billing.setdefault("phone", body["phone"])
        with state.lock:
            customer = state.create_customer(body | {"billing": billing})
            answer = (
                {"customer": view("customer", customer)},
                201,
            )
        return done(*answer)

    @bp.post("/shopper/carts")
    def cart_create() -> Response:
        body = data()
        with state.lock:
            if body.get("customer_id"):
                state.customer(int(body["customer_id"]))
            cart_id = secrets.token_hex(8)
            state.carts[cart_id] = {
                "id": cart_id,
                "customer_id": int(body.get("customer_id") or 0),
                "items": [],
                "created_at": state.dates("d")["d"],
            }
            return jsonify(cart_view(state, cart_id)), 201  # type: ignore[return-value]

    @bp.get("/shopper/carts/<cart_id>")
    def cart_get(cart_id: str) -> Response:
        with state.lock:
            return jsonify(cart_view(state, cart_id))

    @bp.post("/shopper/carts/<cart_id>/items")
    def cart_add(cart_id: str) -> Response:
        body = data()
        with state.lock:
            cart = _cart(state, cart_id)
            product = state.product(int(body["product_id"]))
            variation_id = int(body.get("variation_id") or 0)
            if variation_id and variation_id not in product["variations"]:
                raise WooError(400, "woocommerce_rest_invalid_variation_id", "Invalid variation.")
            line = next(
                (
                    i
                    for i in cart["items"]
                    if i["product_id"] == product["id"] and i["variation_id"] == variation_id
                ),
                None,
            )
            quantity = int(body.get("quantity", 1))
            if line is None:
                cart["items"].append(
                    {
                        "product_id": product["id"],
                        "variation_id": variation_id,
                        "quantity": quantity,
                    }
                )
            else:
                line["quantity"] += quantity
            cart["items"] = [i for i in cart["items"] if i["quantity"] > 0]
            return jsonify(cart_view(state, cart_id))

    @bp.post("/shopper/carts/<cart_id>/checkout")
    def checkout(cart_id: str) -> Response:
        body = data()
        with state.lock:
            cart = _cart(state, cart_id)
            if not cart["items"]:
                raise WooError(400, "woocommerce_cart_empty", "Your cart is currently empty.")
            customer = state.customers.get(cart["customer_id"])
            billing = dict((customer or {}).get("billing") or {}) | (body.get("billing") or {})
            if not billing.get("email"):
                raise WooError(400, "billing_email_required", "Billing Email address is required.")
            shipping = dict((customer or {}).get("shipping") or {}) | (body.get("shipping") or {})
            lines = [
                {k: i[k] for k in ("product_id", "variation_id", "quantity")} for i in cart["items"]
            ]
            order_body = {
                "customer_id": cart["customer_id"],
                "billing": billing,
                "shipping": shipping or billing,
                "payment_method": body.get("payment_method", "bacs"),
                "payment_method_title": body.get("payment_method_title", "Direct bank transfer"),
                "customer_note": body.get("customer_note", ""),
                "line_items": lines,
                "shipping_lines": body.get(
                    "shipping_lines",
                    [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}],
                ),
                "fee_lines": body.get("fee_lines", []),
                "coupon_lines": body.get("coupon_lines", []),
                "meta_data": body.get("meta_data", []),
                "cart_hash": md5_hex(repr(lines)),
                "customer_ip_address": "127.0.0.1",
                "customer_user_agent": "sandbox shopper",
            }
            order = state.create_order(order_body, created_via="checkout")
            del state.carts[cart_id]
            if body.get("pay"):
                order = state.pay_order(order["id"], body.get("transaction_id", ""))
            answer = (
                {"order": view("order", order)},
                201,
            )
        return done(*answer)

    @bp.post("/shopper/orders/<int:order_id>/pay")
    def pay(order_id: int) -> Response:
        body = data()
        with state.lock:
            transaction = body.get("transaction_id") or f"sandbox-{secrets.token_hex(6)}"
            order = state.pay_order(order_id, transaction)
            answer = ({"order": view("order", order)},)
        return done(*answer)

    @bp.post("/shopper/orders/<int:order_id>/cancel")
    def cancel(order_id: int) -> Response:
        with state.lock:
            order = state.set_order_status(order_id, "cancelled", "Order cancelled by customer.")
            answer = ({"order": view("order", order)},)
        return done(*answer)

    @bp.post("/admin/orders/<int:order_id>/status")
    def set_status(order_id: int) -> Response:
        body = data()
        with state.lock:
            order = state.set_order_status(order_id, body["status"], body.get("note", ""))
            answer = ({"order": view("order", order)},)
        return done(*answer)

    @bp.post("/admin/orders/<int:order_id>/refund")
    @bp.post("/shopper/orders/<int:order_id>/refund")
    def refund(order_id: int) -> Response:
        body = data()
        with state.lock:
            order = state.order(order_id)
            remaining = Decimal(order["total"]) - state.refunded_total(order_id)
            body.setdefault("amount", str(remaining))
            refund = state.add_refund(order_id, body)
            order = state.order(order_id)
            kind = "full" if order["status"] == "refunded" else "partial"
            answer = (
                {"refund": refund, "kind": kind, "order": view("order", order)},
                201,
            )
        return done(*answer)

    @bp.post("/admin/webhooks")
    def admin_webhooks() -> Response:
        """Adds webhooks as the shop manager does in Settings → Advanced → Webhooks."""
        body = data()
        topics = body.get("topics") or [body.get("topic")]
        secret = body.get("secret") or state.config["webhook_secret"]
        created = []
        for topic in topics:
            if topic not in TOPIC_HOOKS:
                raise WooError(400, "woocommerce_rest_webhook_invalid_topic", f"Bad topic {topic}")
            hook = webhooks.create(
                {"topic": topic, "delivery_url": body["delivery_url"], "secret": secret}
            )
            created.append(webhook_view(hook))
        return done({"webhooks": created}, 201)

    return bp


def _cart(state: ShopState, cart_id: str) -> dict[str, Any]:
    cart = state.carts.get(cart_id)
    if cart is None:
        raise WooError(404, "woocommerce_sandbox_cart_invalid", "No such cart.")
    return cart


def cart_view(state: ShopState, cart_id: str) -> dict[str, Any]:
    cart = _cart(state, cart_id)
    items = []
    total = Decimal(0)
    for item in cart["items"]:
        source = state.variations.get(item["variation_id"]) or state.products[item["product_id"]]
        line_total = Decimal(source["price"] or 0) * item["quantity"]
        total += line_total
        items.append(item | {"price": source["price"], "line_total": f"{line_total:.2f}"})
    return cart | {"items": items, "total": f"{total:.2f}"}
