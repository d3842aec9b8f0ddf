"""WooCommerce webhooks: the resource, the signed deliveries, the creation ping and the failure
rule.

Follows ``class-wc-webhook.php`` (specs/woocommerce/README.md): the body is
``trim(wp_json_encode(...))`` (compact, ``/`` escaped, non-ASCII as ``\\uXXXX``) of the REST v3
view, ``{"id": N}`` for ``*.deleted``; ``X-WC-Webhook-Signature`` is base64(HMAC-SHA256(body,
secret)); a delivery answered 2xx/301/302 resets the failure count, anything else adds one, and a
webhook that has already failed more than 5 times in a row is disabled
(``woocommerce_max_webhook_delivery_failures``). Nothing is retried. Deliveries run in the
background, as WooCommerce's Action Scheduler does; the creation ping is sent at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

from connector_sandbox.common import Outbox
from connector_sandbox.woocommerce.store import ShopState, WooError

USER_AGENT = "WooCommerce/9.9.5 Hookshot (WordPress/6.8.1)"
MAX_FAILURES = 5
TOPIC_HOOKS: dict[str, list[str]] = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": [
        "user_register",
        "woocommerce_created_customer",
        "woocommerce_new_customer",
    ],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}


def php_json(payload: Any) -> bytes:
    """What PHP's ``json_encode`` with default flags prints: compact, ``\\/``, ``\\uXXXX``."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").strip().encode()


def signature(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class Webhooks:
    """Webhook records of one shop and their delivery."""

    def __init__(
        self, state: ShopState, outbox: Outbox, view: Callable[[str, dict[str, Any]], dict]
    ) -> None:
        self.state, self.outbox, self.view = state, outbox, view
        self._count_lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        topic = body.get("topic", "")
        if topic not in TOPIC_HOOKS and not topic.startswith("action."):
            raise WooError(
                400,
                "woocommerce_rest_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
            )
        if not body.get("delivery_url"):
            raise WooError(
                400,
                "rest_missing_callback_param",
                "Missing parameter(s): delivery_url",
                params=["delivery_url"],
            )
        with self.state.lock:
            hook_id = self.state._next_webhook
            self.state._next_webhook += 1
            resource, _, event = topic.partition(".")
            hook = {
                "id": hook_id,
                "name": body.get("name") or f"Webhook created on {self.state.dates('d')['d']}",
                "status": body.get("status", "active"),
                "topic": topic,
                "resource": resource,
                "event": event,
                "hooks": TOPIC_HOOKS.get(topic, [topic]),
                "delivery_url": body["delivery_url"],
                "secret": body.get("secret") or secrets.token_urlsafe(37)[:50],
                "failure_count": 0,
                **self.state.dates("date_created"),
                **self.state.dates("date_modified"),
            }
            self.state.webhooks[hook_id] = hook
        if hook["status"] == "active":
            self.ping(hook)
        return hook

    def update(self, hook_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            hook = self.get(hook_id)
            for name in ("name", "status", "delivery_url", "secret"):
                if name in body:
                    hook[name] = body[name]
            if "topic" in body and body["topic"] in TOPIC_HOOKS:
                hook["topic"] = body["topic"]
                hook["resource"], _, hook["event"] = body["topic"].partition(".")
                hook["hooks"] = TOPIC_HOOKS[body["topic"]]
            if body.get("status") == "active":
                hook["failure_count"] = 0
            hook.update(self.state.dates("date_modified"))
            return hook

    def get(self, hook_id: int) -> dict[str, Any]:
        hook = self.state.webhooks.get(int(hook_id))
        if hook is None:
            raise WooError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return hook

    def ping(self, hook: dict[str, Any]) -> dict[str, Any]:
        body = f"webhook_id={hook['id']}".encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
        return self.outbox.send(hook["delivery_url"], body, headers, kind="ping")

    def fire(self, topic: str, record: dict[str, Any], source_url: str) -> None:
        """Queues one signed delivery of ``record`` to every active webhook of ``topic``."""
        resource, _, event = topic.partition(".")
        if event == "deleted":
            payload: dict[str, Any] = {"id": record["id"]}
        else:
            payload = self.view(resource, record)
        body = php_json(payload)
        with self.state.lock:
            hooks = [
                h
                for h in self.state.webhooks.values()
                if h["topic"] == topic and h["status"] == "active"
            ]
        for hook in hooks:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-WC-Webhook-Source": source_url.rstrip("/") + "/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": signature(body, hook["secret"]),
                "X-WC-Webhook-ID": str(hook["id"]),
                "X-WC-Webhook-Delivery-ID": secrets.token_hex(16),
            }
            self.outbox.post_later(
                hook["delivery_url"],
                body,
                headers,
                kind=f"webhook:{topic}",
                on_result=lambda result, hook_id=hook["id"]: self._count(hook_id, result),
            )

    def _count(self, hook_id: int, result: dict[str, Any]) -> None:
        # own lock, not the shop's: a control route may hold the shop lock while it waits for us
        with self._count_lock:
            hook = self.state.webhooks.get(hook_id)
            if hook is None:
                return
            status = result.get("status") or 0
            if 200 <= status < 303:
                hook["failure_count"] = 0
            elif hook["failure_count"] > MAX_FAILURES:
                hook["status"] = "disabled"
            else:
                hook["failure_count"] += 1


def webhook_view(hook: dict[str, Any]) -> dict[str, Any]:
    """The REST shape (specs/woocommerce/webhook.json): no secret, no failure count."""
    return {k: v for k, v in hook.items() if k not in ("secret", "failure_count")}
