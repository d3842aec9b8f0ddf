"""WooCommerce webhook deliveries: signature check over the raw bytes, ping detection, parsing.

`X-WC-Webhook-Signature` is base64(HMAC-SHA256(raw body, secret)), computed over PHP's
`json_encode` output (`\\/` escaped), so it must be checked on the bytes as received, never on
re-serialised JSON. The first delivery is a form-encoded ping `webhook_id=<id>` without
signature headers, which must be answered 200 and otherwise ignored. The delivery id is not a
usable event id (research/shop_delivery_loyalty.md 0 and 1.5).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from connector.errors import PermanentError
from connector.safe_input import BadBody, load_json, positive_int


def signature(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_signature(body: bytes, signature_header: str | None, secret: str | None) -> bool:
    """True when `signature_header` signs `body` with `secret` (constant-time compare)."""
    if not signature_header or not secret:
        return False
    expected = signature(body, secret).encode("ascii")
    return hmac.compare_digest(expected, signature_header.strip().encode("ascii", "replace"))


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: its topic (`order.updated`), resource id and decoded payload."""

    topic: str
    resource: str
    event: str
    resource_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)
    webhook_id: str | None = None
    delivery_id: str | None = None
    source: str | None = None
    is_ping: bool = False

    @property
    def dedupe_key(self) -> str:
        """(topic, id, modification time): the delivery id changes on every attempt."""
        modified = self.payload.get("date_modified_gmt") or self.payload.get("date_modified") or ""
        return f"{self.topic}:{self.resource_id}:{modified}"


def parse_delivery(body: bytes, headers: Mapping[str, str]) -> Delivery:
    """Decodes a delivery; the ping comes back with `is_ping=True`. Verify the signature first."""
    lower = {key.lower(): value for key, value in headers.items()}
    topic = lower.get("x-wc-webhook-topic", "")
    if not topic:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "webhook_id" in form:
            return Delivery(
                "ping", "", "ping", None, webhook_id=form["webhook_id"][0], is_ping=True
            )
        raise PermanentError("X-WC-Webhook-Topic: missing", code="bad_webhook")
    try:
        payload = load_json(body)
    except BadBody as error:
        raise PermanentError(str(error), code="bad_webhook") from None
    if not isinstance(payload, dict):
        raise PermanentError("body: not a JSON object", code="bad_webhook")
    resource, _, event = topic.partition(".")
    return Delivery(
        topic=topic,
        resource=lower.get("x-wc-webhook-resource", resource),
        event=lower.get("x-wc-webhook-event", event),
        resource_id=positive_int(payload.get("id", payload.get("arg"))),
        payload=payload,
        webhook_id=lower.get("x-wc-webhook-id"),
        delivery_id=lower.get("x-wc-webhook-delivery-id"),
        source=lower.get("x-wc-webhook-source"),
    )
