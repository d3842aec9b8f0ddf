"""The generic shop contract: signed JSON webhooks for custom sites and POS systems.

Signed as the Standard Webhooks specification says (standardwebhooks.com): headers
`webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` (space-separated
`v1,<base64 HMAC-SHA256>` entries) over `"{id}.{timestamp}.{raw body}"`, with a secret
`whsec_<base64 key>`. Deliveries older or newer than five minutes are refused (replay guard).
The body is `{"type": "<entity>.<event>", "data": {"id": ..., ...}}`; docs/shop-webhooks.md
describes every type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

TOLERANCE_SECONDS = 300
ENTITIES = ("customer", "order", "cart", "product")
EVENT_TYPE = r"^(customer|order|cart|product)\.[a-z_]+$"
ID_LENGTH = 200


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode("utf-8")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value a sender puts on `body`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: Callable[[], float] = time.time,
) -> str | None:
    """None when the delivery is authentic; otherwise the reason it is not."""
    if not secret:
        return "no shop webhook secret is configured"
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "")
    if not message_id or not stamp.isdigit() or not given:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if abs(now() - int(stamp)) > TOLERANCE_SECONDS:
        return "webhook-timestamp is outside the five-minute tolerance"
    expected = sign(secret, message_id, int(stamp), body).split(",", 1)[1].encode()
    for entry in given.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            return None
    return "signature does not match"


def _an_id(value: Any) -> None:
    """A record's id: a text or an integer, at most 200 characters (it names the task's key)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError("must be a text or an integer")
    if not str(value).strip() or len(str(value)) > ID_LENGTH:
        raise ValidationError(f"must be 1 to {ID_LENGTH} characters")


class _Data(Schema):
    id = fields.Raw(required=True, validate=_an_id)

    class Meta:
        unknown = "include"


class ShopEventSchema(Schema):
    type = fields.String(
        required=True, validate=[validate.Length(max=100), validate.Regexp(EVENT_TYPE)]
    )
    data = fields.Nested(_Data, required=True)
    occurred_at = fields.String(load_default=None)


def parse_event(payload: Any) -> dict[str, Any]:
    """The validated event; raises `ValueError` naming the first bad field (`data.id`)."""
    try:
        return ShopEventSchema().load(payload if isinstance(payload, dict) else {"": payload})
    except ValidationError as error:
        raise ValueError(_first_field(error.messages)) from None


def _first_field(messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        name, inner = next(iter(messages.items()))
        label = f"{prefix}.{name}" if prefix and name != "_schema" else str(prefix or name)
        if not name:
            return "body: must be a JSON object"
        if isinstance(inner, dict):
            return _first_field(inner, label)
        return f"{label}: {inner[0] if isinstance(inner, list) else inner}"
    return str(messages)
