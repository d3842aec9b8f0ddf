"""The Twilio Programmable Messaging emulator (specs/twilio/README.md): Messages.json, signed
webhooks.

``/2010-04-01/Accounts/<AccountSid>/Messages.json`` with HTTP Basic auth (the account SID and
auth token; 401 code 20003 otherwise). ``POST`` takes the form ``To``, ``From`` or
``MessagingServiceSid``, ``Body``, ``StatusCallback`` and answers 201 with the Message resource
(``sid`` SM..., ``status`` queued). Refusals are Twilio's JSON ``{"code", "message", "more_info",
"status"}``: 21211 a To that is no E.164 number, 21602 no Body, 21603 no sender, 21610 a number
that replied STOP, 21612 numbers under a ``unroutable`` prefix, and 429 code 20429 past
``rate_per_second`` sends a second (a token bucket with ``burst``). ``GET Messages.json`` lists
newest first, filtered by ``To``, ``From`` and ``DateSent>`` / ``DateSent<`` / ``DateSent``,
paged by ``PageSize`` with ``next_page_uri``; ``GET Messages/<sid>.json`` fetches one.

A sent message moves queued -> sent -> delivered (unless ``auto_deliver`` is off) and each
change is POSTed to its StatusCallback as Twilio does (``MessageSid``, ``MessageStatus``, ...),
signed with ``X-Twilio-Signature`` (HMAC-SHA1 with the auth token of the URL plus the sorted
fields, base64). An incoming text (control API) is POSTed to the number's ``sms_url``, signed
the same way; STOP words put the sender on the opt-out list (sends to it answer 21610), START
words take it off, as Twilio's default opt-out handling does.

Control API under ``/_sandbox/``: ``state``, ``reset``, ``deliveries`` (webhooks sent),
``messages?to=`` (what reached a number, with ``count``), ``inbound`` (``{"from", "body",
"url"?}``: a person texts the number), ``messages/<sid>/status`` (``{"status", "error_code"?}``:
the carrier moves it), ``config`` (PUT: ``sms_url``, ``rate_per_second``, ``burst``,
``auto_deliver``), ``faults``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from copy import deepcopy
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from connector_sandbox.common import Outbox, control_blueprint
from connector_sandbox.faults import FaultInjector

API = "/2010-04-01"
DEFAULTS: dict[str, Any] = {
    "account_sid": "AC" + "0" * 32,
    "auth_token": "sandbox-twilio-auth-token",
    "from_number": "+15005550006",
    "sms_url": None,  # the number's "A message comes in" webhook
    "rate_per_second": 100.0,
    "burst": 100,
    "unroutable": ["+999"],
    "auto_deliver": True,
    "webhook_timeout": 5.0,
}
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "UNSTOP", "YES"}
MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
}


class TwilioRefusal(Exception):
    def __init__(self, status: int, code: int) -> None:
        super().__init__(MESSAGES.get(code, "error"))
        self.status, self.code = status, code

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": MESSAGES.get(self.code, "error"),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def signature(auth_token: str, url: str, fields: list[tuple[str, str]]) -> str:
    text = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_date(moment: float) -> str:
    return format_datetime(datetime.fromtimestamp(moment, UTC), usegmt=True)


def _moment(text: str) -> float | None:
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


class TwilioState:
    """The account's messages, opt-outs and rate bucket; one lock around all of it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.initial = dict(config)
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config.clear()
            self.config.update(self.initial)
            self.messages: dict[str, dict[str, Any]] = {}
            self.order: list[str] = []
            self.opted_out: set[str] = set()
            self.inbound: list[dict[str, Any]] = []
            self.refusals: list[dict[str, Any]] = []
            self.tokens = float(self.config["burst"])
            self.filled_at = time.monotonic()

    def dump(self) -> dict[str, Any]:
        with self.lock:
            counts: dict[str, int] = {}
            for message in self.messages.values():
                if message["direction"] == "outbound-api":
                    counts[message["to"]] = counts.get(message["to"], 0) + 1
            return deepcopy(
                {
                    "messages": [self.messages[sid] for sid in self.order],
                    "opted_out": sorted(self.opted_out),
                    "inbound": self.inbound,
                    "refusals": self.refusals,
                    "counts": counts,
                }
            )

    def take_token(self) -> bool:
        now = time.monotonic()
        rate = float(self.config["rate_per_second"])
        self.tokens = min(float(self.config["burst"]), self.tokens + (now - self.filled_at) * rate)
        self.filled_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.twilio")
    app.config["SANDBOX"] = settings
    state = TwilioState(settings)
    outbox = Outbox(timeout=settings["webhook_timeout"])
    app.extensions["twilio"] = state
    account = f"{API}/Accounts/<account_sid>"

    def answer(payload: Any, status: int = 200) -> Response:
        return Response(
            json.dumps(payload, ensure_ascii=False), status, mimetype="application/json"
        )

    def base() -> str:
        return request.host_url.rstrip("/")

    def resource(message: dict[str, Any]) -> dict[str, Any]:
        found = {k: v for k, v in message.items() if not k.startswith("_")}
        found["date_created"] = twilio_date(message["_created"])
        found["date_updated"] = twilio_date(message["_updated"])
        found["date_sent"] = twilio_date(message["_sent"]) if message.get("_sent") else None
        return found

    def post_signed(url: str, fields: dict[str, str], kind: str) -> None:
        pairs = list(fields.items())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(settings["auth_token"], url, pairs),
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        outbox.post_later(url, urlencode(pairs).encode(), headers, kind=kind)

    def move(sid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        with state.lock:
            message = state.messages.get(sid)
            if message is None:
                raise TwilioRefusal(404, 20404)
            message["status"] = status
            message["_updated"] = time.time()
            if status == "sent" and not message.get("_sent"):
                message["_sent"] = message["_updated"]
            if error_code:
                message["error_code"] = error_code
                message["error_message"] = MESSAGES.get(error_code)
            found = deepcopy(message)
        callback = found.get("_callback")
        if callback:
            fields = {
                "AccountSid": settings["account_sid"],
                "ApiVersion": "2010-04-01",
                "From": found["from"] or "",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": found["to"],
            }
            if found.get("messaging_service_sid"):
                fields["MessagingServiceSid"] = found["messaging_service_sid"]
            if error_code:
                fields["ErrorCode"] = str(error_code)
            post_signed(callback, fields, f"status:{status}")
        return found

    @app.errorhandler(TwilioRefusal)
    def refused(error: TwilioRefusal) -> Response:
        return answer(error.body(), error.status)

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith(API + "/"):
            return None
        auth = request.authorization
        sid = (request.view_args or {}).get("account_sid")
        if (
            auth is None
            or auth.username != settings["account_sid"]
            or auth.password != settings["auth_token"]
            or sid != settings["account_sid"]
        ):
            raise TwilioRefusal(401, 20003)
        return None

    @app.post(f"{account}/Messages.json")
    def create(account_sid: str) -> Response:
        form = request.form
        to = (form.get("To") or "").strip()
        sender = form.get("From")
        service = form.get("MessagingServiceSid")
        text = form.get("Body") or ""
        with state.lock:
            try:
                if not state.take_token():
                    raise TwilioRefusal(429, 20429)
                if not E164.match(to):
                    raise TwilioRefusal(400, 21211)
                if not sender and not service:
                    raise TwilioRefusal(400, 21603)
                if not text:
                    raise TwilioRefusal(400, 21602)
                if to in state.opted_out:
                    raise TwilioRefusal(400, 21610)
                if any(to.startswith(prefix) for prefix in settings["unroutable"]):
                    raise TwilioRefusal(400, 21612)
            except TwilioRefusal as error:
                state.refusals.append({"to": to, "code": error.code})
                raise
            sid = "SM" + secrets.token_hex(16)
            now = time.time()
            message = {
                "sid": sid,
                "account_sid": account_sid,
                "to": to,
                "from": sender or settings["from_number"],
                "messaging_service_sid": service,
                "body": text,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": str(max(1, -(-len(text) // 153))),
                "num_media": "0",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "api_version": "2010-04-01",
                "uri": f"{API}/Accounts/{account_sid}/Messages/{sid}.json",
                "_created": now,
                "_updated": now,
                "_sent": None,
                "_callback": form.get("StatusCallback"),
            }
            state.messages[sid] = message
            state.order.append(sid)
            created = resource(message)
        if settings["auto_deliver"]:
            move(sid, "sent")
            move(sid, "delivered")
        return answer(created, 201)

    @app.get(f"{account}/Messages.json")
    def listing(account_sid: str) -> Response:
        args = request.args
        size = min(max(int(args.get("PageSize") or 50), 1), 1000)
        page = int(args.get("Page") or 0)
        after = _moment(args.get("DateSent>", ""))
        before = _moment(args.get("DateSent<", ""))
        on = args.get("DateSent")
        with state.lock:
            found = []
            for sid in reversed(state.order):
                message = state.messages[sid]
                sent = message.get("_sent") or message["_created"]
                if args.get("To") and message["to"] != args["To"]:
                    continue
                if args.get("From") and message["from"] != args["From"]:
                    continue
                if after is not None and sent < after:
                    continue
                if before is not None and sent >= before + 86_400 * (len(args["DateSent<"]) == 10):
                    continue
                if on and datetime.fromtimestamp(sent, UTC).strftime("%Y-%m-%d") != on:
                    continue
                found.append(resource(message))
        chunk = found[page * size : (page + 1) * size]
        query = {k: v for k, v in args.items() if k not in ("Page", "PageToken")}
        path = f"{API}/Accounts/{account_sid}/Messages.json"
        following = None
        if (page + 1) * size < len(found):
            following = f"{path}?{urlencode(query | {'Page': page + 1})}"
        return answer(
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "uri": f"{path}?{urlencode(query)}",
                "first_page_uri": f"{path}?{urlencode(query | {'Page': 0})}",
                "next_page_uri": following,
                "previous_page_uri": None,
            }
        )

    @app.get(f"{account}/Messages/<sid>.json")
    def fetch(account_sid: str, sid: str) -> Response:
        with state.lock:
            message = state.messages.get(sid)
            if message is None:
                raise TwilioRefusal(404, 20404)
            return answer(resource(message))

    # -- control API -----------------------------------------------------------------------------

    app.register_blueprint(control_blueprint(state, outbox), name="sandbox_base")

    @app.get("/_sandbox/messages")
    def messages() -> Response:
        to = request.args.get("to")
        with state.lock:
            found = [
                resource(state.messages[sid])
                for sid in state.order
                if state.messages[sid]["direction"] == "outbound-api"
                and (not to or state.messages[sid]["to"] == to)
            ]
        return answer({"count": len(found), "messages": found})

    @app.post("/_sandbox/messages/<sid>/status")
    def carrier_moves(sid: str) -> Response:
        body = request.get_json(silent=True) or {}
        status = body.get("status") if isinstance(body, dict) else None
        if status not in ("sent", "delivered", "undelivered", "failed", "read", "canceled"):
            return answer({"error": "status: sent|delivered|undelivered|failed|read|canceled"}, 400)
        code = body.get("error_code")
        return answer(move(sid, status, int(code) if code else None))

    @app.post("/_sandbox/inbound")
    def inbound() -> Response:
        body = request.get_json(silent=True) or {}
        sender = str(body.get("from") or "") if isinstance(body, dict) else ""
        if not E164.match(sender):
            return answer({"error": "from: an E.164 number"}, 400)
        text = str(body.get("body") or "")
        url = body.get("url") or settings["sms_url"]
        word = text.strip().upper()
        with state.lock:
            if word in OPT_OUT:
                state.opted_out.add(sender)
            elif word in OPT_IN:
                state.opted_out.discard(sender)
            sid = "SM" + secrets.token_hex(16)
            record = {"sid": sid, "from": sender, "body": text, "url": url}
            state.inbound.append(record)
        fields = {
            "AccountSid": settings["account_sid"],
            "ApiVersion": "2010-04-01",
            "Body": text,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": str(body.get("to") or settings["from_number"]),
        }
        if word in OPT_OUT:
            fields["OptOutType"] = "STOP"
        elif word in OPT_IN:
            fields["OptOutType"] = "START"
        if url:
            post_signed(str(url), fields, "inbound")
        return answer(record, 201)

    @app.put("/_sandbox/config")
    def configure() -> Response:
        body = request.get_json(silent=True) or {}
        allowed = {"sms_url", "rate_per_second", "burst", "auto_deliver", "unroutable"}
        if not isinstance(body, dict) or set(body) - allowed:
            return answer({"error": f"fields: {', '.join(sorted(allowed))}"}, 400)
        with state.lock:
            settings.update(body)
            state.tokens = float(settings["burst"])
        return answer({k: settings[k] for k in sorted(allowed)})

    FaultInjector(app)
    return app
