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
from connector.systems.forms import parse_php_form

SIGNATURE_MAX_AGE = 300.0
TYPES = {"subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"}


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
    """One delivery as an `AudienceEvent`; an unknown type is refused as permanent."""
    form = parse_php_form(body)
    kind = str(form.get("type") or "")
    if kind not in TYPES:
        raise PermanentError(f"Mailchimp webhook of unknown type {kind!r}", code="bad_webhook")
    data = form.get("data") if isinstance(form.get("data"), dict) else {}
    return AudienceEvent(kind, str(form.get("fired_at") or ""), data)
