"""Mailchimp audience webhooks: form-encoded deliveries, URL secret and optional HMAC signature.

Deliveries are `application/x-www-form-urlencoded` with PHP keys (`data[merges][FNAME]`); the
validator sends a bare GET that must be answered 200. Authenticity is a hard-to-guess secret in
the URL and, for webhooks created with signing, `X-Mailchimp-Signature: t=<unix>,v1=<hex
HMAC-SHA256(secret, "<t>.<raw body>")>`, refused when older than 5 minutes. There is no delivery
id: dedupe on type, member id and `fired_at` (research/mailchimp.md 8).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.errors import PermanentError
from connector.safe_input import BadBody
from connector.systems.forms import parse_php_form

SIGNATURE_MAX_AGE = 300.0
TYPES = {"subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"}
# Fields that name the member (its key in the queue and in the links): texts, never lists.
IDENTITY_FIELDS = ("id", "new_id", "email", "new_email", "old_email", "list_id")
EMAIL_LENGTH = 254  # the longest address SMTP carries (RFC 5321); ids are shorter


@dataclass(frozen=True)
class AudienceEvent:
    """One audience change: `type` (subscribe, unsubscribe, profile, upemail, cleaned, campaign)."""

    type: str
    fired_at: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def email(self) -> str | None:
        return self.data.get("email") or self.data.get("new_email")

    @property
    def dedupe_key(self) -> str:
        member = self.data.get("id") or self.data.get("new_id") or self.data.get("email") or ""
        return f"{self.type}:{member}:{self.fired_at}"


def secret_matches(given: str, secret: str | None) -> bool:
    """The URL secret, compared in constant time."""
    return bool(secret) and hmac.compare_digest(given.encode(), str(secret).encode())


def verify_signature(
    body: bytes,
    header: str | None,
    signing_secret: str,
    *,
    now: Callable[[], float] = time.time,
    max_age: float = SIGNATURE_MAX_AGE,
) -> bool:
    """Checks `X-Mailchimp-Signature` over the raw bytes, before anything is parsed."""
    if not header or not signing_secret:
        return False
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now() - int(stamp)) > max_age:
        return False
    payload = stamp.encode() + b"." + body
    expected = hmac.new(signing_secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip())


def parse_webhook(body: bytes | str) -> AudienceEvent:
    """One delivery as an `AudienceEvent`. A body we cannot read is a `PermanentError` naming
    the field; a type we do not sync is one with code `unknown_type` (recorded, not synced)."""
    try:
        form = parse_php_form(body)
    except BadBody as error:
        raise PermanentError(str(error), code="bad_webhook") from None
    kind = form.get("type")
    if not isinstance(kind, str) or not kind:
        raise PermanentError("type: missing", code="bad_webhook")
    if kind not in TYPES:
        raise PermanentError(f"type: {kind[:40]!r} is not synced", code="unknown_type")
    data = found if isinstance(found := form.get("data"), dict) else {}
    for key in IDENTITY_FIELDS:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > EMAIL_LENGTH):
            raise PermanentError(
                f"data[{key}]: not a text of at most {EMAIL_LENGTH} characters", code="bad_webhook"
            )
    fired_at = form.get("fired_at")
    if fired_at is not None and not isinstance(fired_at, str):
        raise PermanentError("fired_at: not a text", code="bad_webhook")
    return AudienceEvent(kind, fired_at or "", data)
