"""The Mailchimp Transactional (Mandrill) API emulator (specs/mandrill/README.md).

Every call is ``POST /api/1.0/<group>/<method>.json`` with a JSON body holding ``key``; a refusal
is Mandrill's ``{"status": "error", "code": ..., "name": ..., "message": ...}`` with HTTP 500
(``Invalid_Key`` for a wrong key, ``ValidationError`` for a missing key or a bad body,
``Unknown_Template``, ``Unknown_Message``, ``Invalid_Webhook``...). Calls:

- ``users/ping`` answers ``"PONG!"``;
- ``messages/send`` and ``messages/send-template``: one result per recipient of ``message.to``:
  ``invalid`` for an address that is none, ``rejected`` with the ``reject_reason`` of the reject
  list (an address that unsubscribed, complained or hard-bounced is on it), else ``sent`` with a
  new ``_id``; each message is kept (email, subject, template, metadata, merge vars, state) and
  counted per address;
- ``messages/search`` (``query`` ``email:<text>`` / ``u_<metadata>:<value>`` / words, ``date_from``,
  ``date_to`` as ``YYYY-MM-DD``, ``limit`` up to 1000, newest first): 20 calls a minute per key,
  then 429 with ``Retry-After`` (Mandrill's release note of 2023-04-10);
- ``messages/info`` by ``id``;
- ``webhooks/add`` (checked with a HEAD request to the URL, as Mandrill does), ``webhooks/list``,
  ``webhooks/delete``.

Message events go to every webhook that wants them, in a batch per call: the form field
``mandrill_events`` (a JSON array) signed ``X-Mandrill-Signature`` = base64(HMAC-SHA1(webhook key,
URL + sorted field names and values)). Every webhook's key is the configured ``webhook_key``, so
the sandbox's credentials stay the same across starts.

Control API under ``/_sandbox/``: ``state``, ``reset``, ``deliveries``, ``sent`` (per address: how
many messages, and ``?key=`` how many carried that ``metadata.connector_key``), ``rejects`` (put an
address on the reject list), ``messages/<id>/events`` (what the recipient or her server does:
``open``, ``click``, ``soft_bounce``, ``hard_bounce``, ``spam``, ``unsub``, ``deferral``: the event
is POSTed to the webhooks and, for the last three but one, the address joins the reject list).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, Flask, Response, jsonify, request

from connector_sandbox.common import Outbox, control_blueprint

PREFIX = "/api/1.0"
SEARCH_PER_MINUTE = 20
DEFAULTS: dict[str, Any] = {
    "api_key": "sandbox-mandrill-api-key",
    "webhook_key": "sandbox-mandrill-webhook-key",
    "search_per_minute": SEARCH_PER_MINUTE,
    "webhook_timeout": 5.0,
}
EVENTS = (
    "send",
    "deferral",
    "hard_bounce",
    "soft_bounce",
    "open",
    "click",
    "spam",
    "unsub",
    "reject",
)
# what an event leaves in the message's `state` and on the reject list
EVENT_STATES = {"hard_bounce": "bounced", "soft_bounce": "soft-bounced", "deferral": "deferred"}
REJECT_REASONS = {"hard_bounce": "hard-bounce", "spam": "spam", "unsub": "unsub"}
ERROR_CODES = {
    "ValidationError": -2,
    "Invalid_Key": -1,
    "Unknown_Template": 5,
    "Unknown_Message": 11,
    "Unknown_Webhook": 3,
    "Invalid_Webhook": -2,
    "Too_Many_Requests": -1,
}


class MandrillError(Exception):
    def __init__(self, name: str, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.name, self.message, self.status = name, message, status

    def response(self) -> Response:
        body = {
            "status": "error",
            "code": ERROR_CODES.get(self.name, -1),
            "name": self.name,
            "message": self.message,
        }
        answer = jsonify(body)
        answer.status_code = self.status
        return answer


def sign(key: str, url: str, fields: dict[str, str]) -> str:
    signed = url + "".join(name + value for name, value in sorted(fields.items()))
    return base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()


class MandrillState:
    """Messages, the reject list, webhooks and the search limiter; one lock around all."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages: dict[str, dict[str, Any]] = {}
            self.rejects: dict[str, str] = {}
            self.webhooks: dict[int, dict[str, Any]] = {}
            self.templates: set[str] | None = None  # None: every template name exists
            self.searches: deque[float] = deque()
            self._next_hook = 1

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "messages": list(self.messages.values()),
                    "rejects": self.rejects,
                    "webhooks": list(self.webhooks.values()),
                }
            )

    def search_allowed(self, now: float) -> float | None:
        """None when a search may run now, else the seconds until it may (20 a minute)."""
        with self.lock:
            while self.searches and self.searches[0] <= now - 60:
                self.searches.popleft()
            if len(self.searches) >= int(self.config["search_per_minute"]):
                return 60 - (now - self.searches[0])
            self.searches.append(now)
            return None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = {**DEFAULTS, **(config or {})}
    app = Flask(__name__)
    state = MandrillState(settings)
    outbox = Outbox(timeout=float(settings["webhook_timeout"]))
    app.extensions["mandrill"] = state
    api = Blueprint("mandrill_api", __name__, url_prefix=PREFIX)

    @app.errorhandler(MandrillError)
    def refused(error: MandrillError) -> Response:
        return error.response()

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict):
            raise MandrillError("ValidationError", "You must specify a key value")
        key = data.get("key")
        if not key:
            raise MandrillError("ValidationError", "You must specify a key value")
        if not hmac.compare_digest(str(key).encode(), str(settings["api_key"]).encode()):
            raise MandrillError("Invalid_Key", "Invalid API key")
        return data

    # -- webhooks out ----------------------------------------------------------------------------

    def emit(events: list[dict[str, Any]]) -> None:
        """One batch per webhook that wants any of these events, signed with its key."""
        with state.lock:
            hooks = [dict(h) for h in state.webhooks.values()]
        for hook in hooks:
            wanted = [e for e in events if e["event"] in hook["events"]]
            if not wanted:
                continue
            fields = {"mandrill_events": json.dumps(wanted)}
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Mandrill-Signature": sign(hook["auth_key"], hook["url"], fields),
                "User-Agent": "Mandrill-Webhook/1.0",
            }
            outbox.post_later(
                hook["url"], urlencode(fields).encode(), headers, kind="mandrill_events"
            )
            with state.lock:
                if hook["id"] in state.webhooks:
                    state.webhooks[hook["id"]]["batches_sent"] += 1
                    state.webhooks[hook["id"]]["events_sent"] += len(wanted)

    def event_of(message: dict[str, Any], kind: str, at: float) -> dict[str, Any]:
        msg = {k: v for k, v in message.items() if k not in ("merge_vars", "text")}
        return {"event": kind, "_id": message["_id"], "ts": int(at), "msg": msg}

    # -- sending ---------------------------------------------------------------------------------

    def send(data: dict[str, Any], template: str | None) -> Response:
        message = data.get("message")
        if not isinstance(message, dict):
            raise MandrillError("ValidationError", "Validation error: {'message':['required']}")
        recipients = message.get("to")
        if not isinstance(recipients, list) or not recipients:
            raise MandrillError(
                "ValidationError", "Validation error: {'message':{'to':['required']}}"
            )
        if template is not None:
            if not template:
                raise MandrillError(
                    "ValidationError", "Validation error: {'template_name':['required']}"
                )
            with state.lock:
                known = state.templates
            if known is not None and template not in known:
                raise MandrillError("Unknown_Template", f'No such template "{template}"')
        elif not (message.get("html") or message.get("text")):
            raise MandrillError("ValidationError", "Validation error: {'message':['no content']}")
        now = time.time()
        results, events = [], []
        for recipient in recipients:
            email = str((recipient or {}).get("email") or "").strip().lower()
            if "@" not in email or " " in email:
                results.append({"email": email, "status": "invalid", "_id": uuid.uuid4().hex})
                continue
            with state.lock:
                reason = state.rejects.get(email)
                record = {
                    "_id": uuid.uuid4().hex,
                    "ts": int(now),
                    "email": email,
                    "sender": message.get("from_email") or "sandbox@example.com",
                    "subject": message.get("subject") or (template or ""),
                    "template": template,
                    "tags": list(message.get("tags") or []),
                    "metadata": dict(message.get("metadata") or {}),
                    "merge_vars": list(message.get("global_merge_vars") or []),
                    "text": message.get("text"),
                    "state": "rejected" if reason else "sent",
                    "opens": 0,
                    "clicks": 0,
                }
                state.messages[record["_id"]] = record
            result = {"email": email, "status": record["state"], "_id": record["_id"]}
            if reason:
                result["reject_reason"] = reason
            results.append(result)
            events.append(event_of(record, "reject" if reason else "send", now))
        emit(events)
        return jsonify(results)

    @api.post("/messages/send.json")
    def messages_send() -> Response:
        return send(body(), None)

    @api.post("/messages/send-template.json")
    def messages_send_template() -> Response:
        data = body()
        return send(data, str(data.get("template_name") or ""))

    @api.post("/messages/search.json")
    def messages_search() -> Response:
        data = body()
        wait = state.search_allowed(time.time())
        if wait is not None:
            error = MandrillError("Too_Many_Requests", "Too many search requests", status=429)
            answer = error.response()
            answer.headers["Retry-After"] = str(max(1, round(wait)))
            return answer
        limit = min(int(data.get("limit") or 100), 1000)
        low = _day_start(data.get("date_from"), "date_from")
        high = _day_start(data.get("date_to"), "date_to")
        with state.lock:
            found = [
                _public(m)
                for m in state.messages.values()
                if _matches(m, str(data.get("query") or "*"))
                and (low is None or m["ts"] >= low)
                and (high is None or m["ts"] < high + 86_400)
            ]
        found.sort(key=lambda m: m["ts"], reverse=True)
        return jsonify(found[:limit])

    @api.post("/messages/info.json")
    def messages_info() -> Response:
        data = body()
        with state.lock:
            found = state.messages.get(str(data.get("id") or ""))
            if found is None:
                raise MandrillError(
                    "Unknown_Message", f"No message exists with the id '{data.get('id')}'"
                )
            return jsonify(_public(found))

    @api.post("/users/ping.json")
    def ping() -> Response:
        body()
        return jsonify("PONG!")

    # -- webhooks --------------------------------------------------------------------------------

    @api.post("/webhooks/add.json")
    def webhooks_add() -> Response:
        data = body()
        url = str(data.get("url") or "")
        events = [e for e in data.get("events") or [] if e in EVENTS]
        try:  # Mandrill checks the URL with a HEAD request before it keeps the webhook
            check = requests.head(url, timeout=5, allow_redirects=False)
            ok = check.status_code == 200
        except requests.RequestException:
            ok = False
        if not ok:
            raise MandrillError("Invalid_Webhook", f"The URL {url} did not answer a HEAD with 200")
        with state.lock:
            hook = {
                "id": state._next_hook,
                "url": url,
                "description": str(data.get("description") or ""),
                "auth_key": settings["webhook_key"],
                "events": events,
                "created_at": _stamp(time.time()),
                "last_sent_at": None,
                "batches_sent": 0,
                "events_sent": 0,
                "last_error": None,
            }
            state.webhooks[hook["id"]] = hook
            state._next_hook += 1
            return jsonify(dict(hook))

    @api.post("/webhooks/list.json")
    def webhooks_list() -> Response:
        body()
        with state.lock:
            return jsonify([dict(h) for h in state.webhooks.values()])

    @api.post("/webhooks/delete.json")
    def webhooks_delete() -> Response:
        data = body()
        with state.lock:
            hook = state.webhooks.pop(int(data.get("id") or 0), None)
        if hook is None:
            raise MandrillError(
                "Unknown_Webhook", f"No webhook exists with the id '{data.get('id')}'"
            )
        return jsonify(hook)

    # -- control ---------------------------------------------------------------------------------

    control = control_blueprint(state, outbox)

    @control.get("/sent")
    def sent() -> Response:
        """Messages per address (`?email=` one address, `?key=` only those of that step key)."""
        email, key = request.args.get("email"), request.args.get("key")
        with state.lock:
            counts: dict[str, int] = {}
            for message in state.messages.values():
                if email and message["email"] != email.lower():
                    continue
                if key and message["metadata"].get("connector_key") != key:
                    continue
                if message["state"] == "rejected":  # refused, never sent
                    continue
                counts[message["email"]] = counts.get(message["email"], 0) + 1
        return jsonify({"counts": counts, "total": sum(counts.values())})

    @control.post("/rejects")
    def rejects() -> Response:
        data = request.get_json(force=True) or {}
        with state.lock:
            state.rejects[str(data["email"]).lower()] = str(data.get("reason") or "custom")
        return jsonify({"added": True, "email": data["email"]})

    @control.post("/templates")
    def templates() -> Response:
        data = request.get_json(force=True) or {}
        names = data.get("names")
        with state.lock:
            state.templates = None if names is None else {str(n) for n in names}
        return jsonify({"templates": names})

    @control.post("/messages/<message_id>/events")
    def message_event(message_id: str) -> tuple[Response, int]:
        data = request.get_json(force=True) or {}
        kind = str(data.get("event") or "")
        if kind not in EVENTS or kind in ("send", "reject"):
            return jsonify({"error": f"event: one of {EVENTS[1:-1]}"}), 400
        now = time.time()
        with state.lock:
            message = state.messages.get(message_id)
            if message is None:
                return jsonify({"error": "no such message"}), 404
            if kind in EVENT_STATES:
                message["state"] = EVENT_STATES[kind]
            if kind in ("open", "click"):
                message[f"{kind}s"] += 1
            if kind in REJECT_REASONS:
                state.rejects[message["email"]] = REJECT_REASONS[kind]
            event = event_of(message, kind, now)
        emit([event])
        return jsonify(event), 200

    app.register_blueprint(api)
    app.register_blueprint(control)
    return app


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """A message as search and info show it."""
    return {k: deepcopy(v) for k, v in message.items() if k not in ("merge_vars", "text")}


def _matches(message: dict[str, Any], query: str) -> bool:
    """Mandrill's query, the parts we need: `email:<text>`, `u_<field>:<value>`, `*`, words
    (in the subject or address); terms joined by spaces or AND must all match."""
    for term in query.replace(" AND ", " ").split():
        field, colon, value = term.partition(":")
        value = value.strip('"').lower()
        if term == "*":
            continue
        if colon and field == "email":
            if value not in message["email"]:
                return False
        elif colon and field.startswith("u_"):
            if str(message["metadata"].get(field[2:], "")).lower() != value:
                return False
        elif colon and field == "subject":
            if value not in str(message["subject"]).lower():
                return False
        elif term.lower() not in f"{message['subject']} {message['email']}".lower():
            return False
    return True


def _day_start(value: Any, name: str) -> int | None:
    if not value:
        return None
    try:
        day = datetime.strptime(str(value)[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise MandrillError("ValidationError", f"Validation error: {{'{name}':['date']}}") from None
    return int(day.timestamp())


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")
