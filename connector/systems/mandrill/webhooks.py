"""Mandrill's webhooks: a form POST whose field `mandrill_events` is a JSON array of events,
signed `X-Mandrill-Signature` = base64(HMAC-SHA1(webhook key, URL + each POST field's name and
value, sorted by name)); the URL is the one entered at Mandrill, query string included
(specs/mandrill/README.md). Mandrill checks a new webhook with a HEAD request and retries a
failed batch (same body) for hours, so a batch is deduped on its content.

Message events: send, deferral, hard_bounce, soft_bounce, open, click, spam, unsub, reject;
each carries `_id` (the message id `send` answered), `ts` and `msg` (`email`, `state`,
`metadata`, `bounce_description`...). Sync events (`type` blacklist/whitelist) have no `_id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from connector.errors import PermanentError

EMAIL_LENGTH = 254
ID_LENGTH = 200  # cascade_sends.provider_id

# Mandrill's event -> the canonical status (connector.cascades.channels.STATUSES), or None
STATUSES: dict[str, str | None] = {
    "send": "delivered",  # the recipient's mail server accepted the message
    "deferral": "queued",  # the receiving server said "later": Mandrill retries
    "soft_bounce": "undelivered",  # Mandrill gave up after temporary failures
    "hard_bounce": "failed",  # the address does not exist
    "reject": "failed",  # Mandrill would not send it (reject list, rule)
    "open": "read",
    "click": "read",
    "spam": None,  # a complaint: an opt-out, the status stays
    "unsub": None,  # an unsubscribe: an opt-out, the status stays
}
# Mandrill's event -> the reason no scenario emails that address again
OPT_OUTS = {
    "unsub": "mandrill unsubscribe",
    "spam": "mandrill spam complaint",
    "hard_bounce": "mandrill hard bounce",
}


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The POST fields of a form body, in order (a body that is no form: BadBody upstream)."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)


def signature(key: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """What Mandrill puts in X-Mandrill-Signature for these POST fields sent to `url`."""
    signed = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(key: str | None, url: str, fields: Iterable[tuple[str, str]], given: str | None) -> bool:
    """Checks X-Mandrill-Signature in constant time (never true without a key or a header)."""
    if not key or not given:
        return False
    return hmac.compare_digest(signature(key, url, fields).encode(), given.strip().encode())


def parse_events(fields: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The message events of a delivery, each cut down to what the task needs: `event`, `id`,
    `ts`, `email`, `key` (our metadata key) and `reason`. A body we cannot read is a
    PermanentError naming the field; sync events (no `_id`) are left out."""
    raw = dict(fields).get("mandrill_events")
    if raw is None:
        raise PermanentError("mandrill_events: missing", code="bad_webhook")
    try:
        events = json.loads(raw)
    except ValueError:
        raise PermanentError("mandrill_events: not JSON", code="bad_webhook") from None
    if not isinstance(events, list):
        raise PermanentError("mandrill_events: not a JSON array", code="bad_webhook")
    kept = []
    for number, event in enumerate(events):
        where = f"mandrill_events[{number}]"
        if not isinstance(event, dict):
            raise PermanentError(f"{where}: not an object", code="bad_webhook")
        if "type" in event and "event" not in event:  # a sync event (reject list changes)
            continue
        kind = event.get("event")
        if not isinstance(kind, str) or not kind:
            raise PermanentError(f"{where}.event: missing", code="bad_webhook")
        if kind not in STATUSES:  # an event type we do not act on: recorded only
            continue
        message_id = event.get("_id")
        if not isinstance(message_id, str) or not message_id or len(message_id) > ID_LENGTH:
            raise PermanentError(f"{where}._id: not a message id", code="bad_webhook")
        msg = found if isinstance(found := event.get("msg"), dict) else {}
        email = msg.get("email")
        if email is not None and (not isinstance(email, str) or len(email) > EMAIL_LENGTH):
            raise PermanentError(f"{where}.msg.email: not an address", code="bad_webhook")
        ts = event.get("ts")
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            raise PermanentError(f"{where}.ts: not a Unix time", code="bad_webhook")
        metadata = found if isinstance(found := msg.get("metadata"), dict) else {}
        reason = msg.get("bounce_description") or msg.get("diag") or event.get("reject_reason")
        kept.append(
            {
                "event": kind,
                "id": message_id,
                "ts": float(ts),
                "email": (email or "").strip().lower() or None,
                "key": str(metadata.get("connector_key") or "") or None,
                "reason": str(reason)[:200] if reason else None,
            }
        )
    return kept
