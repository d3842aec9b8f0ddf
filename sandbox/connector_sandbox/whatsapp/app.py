"""The WhatsApp Cloud API emulator (specs/whatsapp/README.md): one business phone number.

``POST /<version>/<phone-number-id>/messages`` with ``Authorization: Bearer <token>`` takes
``{"messaging_product": "whatsapp", "to", "type": "template" | "text", ...}`` and answers
``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid...",
"message_status": "accepted"}]}``. Refusals are Graph errors ``{"error": {"message", "type",
"code", "error_data": {"messaging_product", "details"}, "fbtrace_id"}}``: 190 for a bad token
(401), 100 for a missing or wrong parameter or an unknown number id, 132001 for a template that
does not exist in that language, 132000 for a wrong number of parameters, 130429 past
``rate_per_second``. ``GET /<version>/<phone-number-id>`` is the number's record.

What Meta reports later comes as signed webhooks (``X-Hub-Signature-256: sha256=<HMAC-SHA256
of the body with the app secret>``) to the callback URL: ``sent`` then ``delivered`` for a
message that reaches a phone; ``failed`` with 131026 for a number not on WhatsApp and with
131047 for a text outside 24 h of the customer's last message; ``read`` on request.

Control API under ``/_sandbox/``: ``state``, ``reset``, ``deliveries``, ``POST webhook``
``{"url", "verify_token"}`` (what saving the App Dashboard's webhook does: Meta's GET handshake
first, kept only if the challenge comes back), ``POST inbound`` ``{"from", "text"}`` (a
customer writes: a ``messages`` webhook; it opens the 24 h window), ``POST messages/<id>/read``,
``POST numbers`` ``{"number", "on_whatsapp": false}``, ``GET messages?to=`` (what was sent,
with ``count``), and ``faults``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from copy import deepcopy
from typing import Any

import requests
from flask import Flask, Response, request

from connector_sandbox.common import Outbox, control_blueprint
from connector_sandbox.faults import FaultInjector

DEFAULTS: dict[str, Any] = {
    "access_token": "sandbox-whatsapp-access-token",
    "phone_number_id": "106540352242922",
    "display_phone_number": "+7 701 000 00 00",
    "business_account_id": "102290129340398",
    "app_secret": "sandbox-whatsapp-app-secret",
    "rate_per_second": 80,  # Cloud API's default throughput per number
    "webhook_timeout": 5.0,
    "auto_deliver": True,
    # approved templates: name -> language -> the body's parameter names (digits: positional)
    "templates": {
        "cart_reminder": {"ru": ["first_name"], "en_US": ["first_name"], "kk": ["first_name"]},
        "order_ready": {"ru": ["1", "2"], "en_US": ["1", "2"]},
        "hello_world": {"en_US": []},
    },
}
WINDOW = 24 * 3600
DIGITS = re.compile(r"^\d{8,15}$")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GraphError(Exception):
    def __init__(self, http: int, code: int, message: str, details: str = "") -> None:
        super().__init__(message)
        self.http, self.code, self.message, self.details = http, code, message, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": error}


class WhatsAppState:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.sent: list[dict[str, Any]] = []
            self.by_id: dict[str, dict[str, Any]] = {}
            self.last_inbound: dict[str, float] = {}
            self.not_on_whatsapp: set[str] = set()
            self.webhook: dict[str, Any] = {}
            self.recent: deque[float] = deque()
            self._ids = itertools.count(1)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "sent": self.sent,
                    "webhook": {"url": self.webhook.get("url")},
                    "not_on_whatsapp": sorted(self.not_on_whatsapp),
                }
            )

    def check_template(self, template: Any) -> None:
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            raise GraphError(400, 100, "(#100) Invalid parameter", "template.name is required")
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(code, str):
            raise GraphError(400, 100, "(#100) Invalid parameter", "template.language.code")
        known = self.config["templates"].get(template["name"], {})
        if code not in known:
            raise GraphError(
                404,
                132001,
                "(#132001) Template name does not exist in the translation",
                f"template name ({template['name']}) does not exist in {code}",
            )
        wanted = list(known[code])
        given: list[dict[str, Any]] = []
        for component in template.get("components") or []:
            if isinstance(component, dict) and component.get("type") == "body":
                given += [p for p in component.get("parameters") or [] if isinstance(p, dict)]
        names = [p.get("parameter_name") for p in given]
        positional = all(name.isdigit() for name in wanted)
        fits = len(given) == len(wanted) and (
            all(name is None for name in names) if positional else sorted(names) == sorted(wanted)
        )
        if not fits or any(not isinstance(p.get("text"), str) for p in given):
            raise GraphError(
                400,
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                f"body: number of localizable_params ({len(given)}) does not match the "
                f"expected number of params ({len(wanted)})",
            )

    def accept(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(400, 100, "(#100) The parameter messaging_product is required.")
        to = body.get("to")
        if not isinstance(to, str) or not DIGITS.match(to.lstrip("+")):
            raise GraphError(400, 100, "(#100) Invalid parameter", "to: not a phone number")
        to = to.lstrip("+")
        kind = body.get("type", "text")
        if kind == "template":
            self.check_template(body.get("template"))
        elif kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str):
                raise GraphError(400, 100, "(#100) Invalid parameter", "text.body is required")
        else:
            raise GraphError(400, 100, "(#100) Invalid parameter", f"type {kind} not emulated")
        with self.lock:
            now = time.monotonic()
            while self.recent and now - self.recent[0] >= 1.0:
                self.recent.popleft()
            if len(self.recent) >= int(self.config["rate_per_second"]):
                raise GraphError(
                    400,
                    130429,
                    "(#130429) Rate limit hit",
                    "Cloud API message throughput has been reached.",
                )
            self.recent.append(now)
            number = next(self._ids)
            wamid = "wamid." + hashlib.sha1(f"{to}:{number}".encode()).hexdigest().upper()
            message = {
                "id": wamid,
                "to": to,
                "type": kind,
                "template": body.get("template"),
                "text": body.get("text"),
                "statuses": ["accepted"],
                "at": time.time(),
            }
            self.sent.append(message)
            self.by_id[wamid] = message
        return message


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.whatsapp")
    app.config["SANDBOX"] = settings
    state = WhatsAppState(settings)
    outbox = Outbox(timeout=float(settings["webhook_timeout"]))
    app.extensions["whatsapp"] = state
    session = requests.Session()
    session.trust_env = False

    def answer(payload: Any, status: int = 200) -> Response:
        text = json.dumps(payload, ensure_ascii=False)
        return Response(text, status, mimetype="application/json")

    @app.errorhandler(GraphError)
    def graph_error(error: GraphError) -> Response:
        return answer(error.body(), error.http)

    def notify(value: dict[str, Any], kind: str) -> None:
        url = state.webhook.get("url")
        if not url:
            return
        event = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": settings["business_account_id"],
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": re.sub(
                                        r"\D", "", settings["display_phone_number"]
                                    ),
                                    "phone_number_id": settings["phone_number_id"],
                                },
                                **value,
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(settings["app_secret"], body),
        }
        outbox.post_later(url, body, headers, kind=kind)

    def status(message: dict[str, Any], name: str, error: tuple[int, str] | None = None) -> None:
        with state.lock:
            message["statuses"].append(name)
        entry: dict[str, Any] = {
            "id": message["id"],
            "status": name,
            "timestamp": str(int(time.time())),
            "recipient_id": message["to"],
        }
        if error is not None:
            code, title = error
            entry["errors"] = [
                {
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": title},
                }
            ]
        elif name == "sent":
            entry["conversation"] = {
                "id": secrets.token_hex(16),
                "origin": {"type": "marketing" if message["type"] == "template" else "service"},
            }
            entry["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "marketing" if message["type"] == "template" else "service",
            }
        notify({"statuses": [entry]}, kind=f"status:{name}")

    def authorized() -> None:
        given = request.headers.get("Authorization", "")
        if given != f"Bearer {settings['access_token']}":
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def known_number(number_id: str) -> None:
        if number_id != settings["phone_number_id"]:
            raise GraphError(
                400,
                100,
                f"Unsupported post request. Object with ID '{number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation.",
            )

    @app.post("/<version>/<number_id>/messages")
    def messages(version: str, number_id: str) -> Response:
        authorized()
        known_number(number_id)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise GraphError(400, 100, "(#100) Invalid parameter", "the body is not JSON")
        message = state.accept(body)
        to = message["to"]
        if to in state.not_on_whatsapp:
            status(message, "failed", (131026, "Message undeliverable"))
        elif message["type"] == "text" and (
            time.time() - state.last_inbound.get(to, float("-inf")) > WINDOW
        ):
            status(
                message,
                "failed",
                (
                    131047,
                    "Re-engagement message: more than 24 hours since the customer last replied",
                ),
            )
        elif settings["auto_deliver"]:
            status(message, "sent")
            status(message, "delivered")
        return answer(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": to}],
                "messages": [{"id": message["id"], "message_status": "accepted"}],
            }
        )

    @app.get("/<version>/<number_id>")
    def number(version: str, number_id: str) -> Response:
        authorized()
        known_number(number_id)
        return answer(
            {
                "id": settings["phone_number_id"],
                "display_phone_number": settings["display_phone_number"],
                "verified_name": "Sandbox shop",
                "quality_rating": "GREEN",
            }
        )

    # -- control API -----------------------------------------------------------------------------

    def body() -> dict[str, Any]:
        found = request.get_json(silent=True)
        return found if isinstance(found, dict) else {}

    @app.post("/_sandbox/webhook")
    def webhook() -> Response:
        """Saving the callback URL in the App Dashboard: Meta verifies it first."""
        given = body()
        url, token = str(given.get("url") or ""), str(given.get("verify_token") or "")
        challenge = secrets.token_hex(8)
        query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": challenge}
        try:
            reply = session.get(url, params=query, timeout=settings["webhook_timeout"])
        except requests.RequestException as error:
            return answer({"error": f"the callback URL did not answer: {error}"}, 400)
        if reply.status_code != 200 or reply.text != challenge:
            text = "The callback URL or verify token couldn't be validated."
            return answer({"error": text, "status": reply.status_code}, 400)
        state.webhook = {"url": url}
        return answer({"success": True, "url": url})

    @app.post("/_sandbox/inbound")
    def inbound() -> Response:
        given = body()
        sender = str(given.get("from") or "").lstrip("+")
        text = str(given.get("text") or "")
        with state.lock:
            state.last_inbound[sender] = time.time()
            wamid = f"wamid.IN{next(state._ids)}"
        message = {
            "from": sender,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        contact = {"profile": {"name": given.get("name") or "Olena"}, "wa_id": sender}
        notify({"contacts": [contact], "messages": [message]}, kind="message")
        return answer({"id": wamid}, 201)

    @app.post("/_sandbox/messages/<wamid>/read")
    def read(wamid: str) -> Response:
        message = state.by_id.get(wamid)
        if message is None:
            return answer({"error": "no such message"}, 404)
        status(message, "read")
        return answer({"id": wamid, "statuses": message["statuses"]})

    @app.post("/_sandbox/numbers")
    def numbers() -> Response:
        given = body()
        number = str(given.get("number") or "").lstrip("+")
        with state.lock:
            if given.get("on_whatsapp", True):
                state.not_on_whatsapp.discard(number)
            else:
                state.not_on_whatsapp.add(number)
        return answer({"number": number, "on_whatsapp": number not in state.not_on_whatsapp})

    @app.get("/_sandbox/messages")
    def sent() -> Response:
        to = (request.args.get("to") or "").lstrip("+")
        with state.lock:
            found = [m for m in state.sent if not to or m["to"] == to]
        return answer({"count": len(found), "messages": deepcopy(found)})

    app.register_blueprint(control_blueprint(state, outbox))
    FaultInjector(app, _fault_body)
    return app


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}}
    return "application/json", json.dumps(body).encode()
