"""Meta's webhook for WhatsApp, `/webhooks/whatsapp` (its declaration's `blueprint`).

GET is the subscription handshake: with `hub.mode=subscribe` and the `hub.verify_token` of
CONNECTOR_WHATSAPP_VERIFY_TOKEN it echoes `hub.challenge`, else 403. POSTs are signed:
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, checked in
constant time before the body is read (401 otherwise). A POST carrying `statuses` or `messages`
is stored with a `whatsapp.webhook` task holding just what the flow needs; Meta sends no
delivery id and may repeat a POST, so the delivery id is a hash of the body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from flask import Response, request

import webhooks
from connector import keys
from connector.inbound import TaskSpec, content_key
from connector.safe_input import BadBody, load_json
from connector.systems.whatsapp.settings import WhatsAppSettings

SOURCE = "whatsapp"
HEADER = "X-Hub-Signature-256"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


def signature(secret: str, body: bytes) -> str:
    """The header value Meta sends: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, given: str | None, secret: str | None) -> bool:
    return bool(given and secret) and hmac.compare_digest(
        str(given).encode(), signature(str(secret), body).encode()
    )


@blueprint.get("/whatsapp")
def handshake() -> tuple[Response, int]:
    token = webhooks.services().settings.of(WhatsAppSettings).verify_token
    mode, challenge = request.args.get("hub.mode"), request.args.get("hub.challenge", "")
    metrics = webhooks.services().metrics
    if mode != "subscribe" or not webhooks.same(request.args.get("hub.verify_token"), token):
        metrics.count(metrics.webhooks, SOURCE, "forbidden")
        return Response("verify token mismatch", 403, mimetype="text/plain"), 403
    metrics.count(metrics.webhooks, SOURCE, "verified")
    return Response(challenge, 200, mimetype="text/plain"), 200


@blueprint.post("/whatsapp")
def whatsapp() -> tuple[Response, int]:
    raw = request.get_data(cache=True)  # signed as bytes: checked before it is read as text
    secret = webhooks.services().settings.of(WhatsAppSettings).app_secret
    if not verify(raw, webhooks.headers().get(HEADER), secret):
        return webhooks.refuse(401, SOURCE, "unauthorized", f"bad {HEADER}")
    body = webhooks.body()
    try:
        statuses, messages = read_changes(load_json(body))
    except BadBody as error:
        return webhooks.refuse(400, SOURCE, "bad_request", str(error))
    task = None
    if statuses or messages:
        senders = {m["from"] for m in messages}
        ordering = keys.record("contact", SOURCE, senders.pop()) if len(senders) == 1 else None
        payload = {"statuses": statuses, "messages": messages}
        task = TaskSpec("whatsapp.webhook", payload, ordering_key=ordering)
    topic = "statuses" if statuses else "messages" if messages else "other"
    return webhooks.store(SOURCE, content_key(SOURCE, body), topic, body, task)


def _text(value: Any, where: str, required: bool = True, most: int = 200) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value:
        if len(value) > most:
            raise BadBody(f"{where}: longer than {most} characters")
        return value
    if required:
        raise BadBody(f"{where}: missing or not a string")
    return None


def read_changes(update: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The statuses and the inbound messages of a notification, reduced to what the flow
    reads; BadBody naming the field for a shape Meta never sends."""
    if not isinstance(update, Mapping):
        raise BadBody("body: not a JSON object")
    entries = update.get("entry")
    if not isinstance(entries, list):
        raise BadBody("entry: missing or not a list")
    statuses: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for e, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            raise BadBody(f"entry[{e}].changes: missing or not a list")
        for c, change in enumerate(changes):
            where = f"entry[{e}].changes[{c}].value"
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping):
                raise BadBody(f"{where}: missing or not an object")
            for s, status in enumerate(_list(value.get("statuses"), f"{where}.statuses")):
                here = f"{where}.statuses[{s}]"
                if not isinstance(status, Mapping):
                    raise BadBody(f"{here}: not an object")
                errors = _list(status.get("errors"), f"{here}.errors")
                codes = [
                    err.get("code")
                    for err in errors
                    if isinstance(err, Mapping) and isinstance(err.get("code"), int)
                ]
                statuses.append(
                    {
                        "id": _text(status.get("id"), f"{here}.id"),
                        "status": _text(status.get("status"), f"{here}.status"),
                        "recipient": _text(
                            status.get("recipient_id"), f"{here}.recipient_id", False, 20
                        ),
                        "timestamp": _stamp(status.get("timestamp"), f"{here}.timestamp"),
                        "errors": codes,
                    }
                )
            for m, message in enumerate(_list(value.get("messages"), f"{where}.messages")):
                here = f"{where}.messages[{m}]"
                if not isinstance(message, Mapping):
                    raise BadBody(f"{here}: not an object")
                messages.append(
                    {
                        "id": _text(message.get("id"), f"{here}.id"),
                        "from": _text(message.get("from"), f"{here}.from", most=20),
                        "timestamp": _stamp(message.get("timestamp"), f"{here}.timestamp"),
                        "text": reply_text(message),
                    }
                )
    return statuses, messages


def _stamp(value: Any, where: str) -> str | None:
    """Meta's timestamps: unix seconds as a string."""
    if value is None:
        return None
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > 12:
        raise BadBody(f"{where}: not unix seconds")
    return text


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadBody(f"{where}: not a list")
    return value


def reply_text(message: Mapping[str, Any]) -> str | None:
    """What the customer said: a text's body, or a quick-reply button's text or payload."""
    kind = message.get("type")
    if kind == "text" and isinstance(message.get("text"), Mapping):
        body = message["text"].get("body")
        return body if isinstance(body, str) else None
    if kind == "button" and isinstance(message.get("button"), Mapping):
        button = message["button"]
        found = button.get("text") or button.get("payload")
        return found if isinstance(found, str) else None
    return None
