"""The Telegram Bot API emulator (specs/telegram/README.md): one bot, its users, its webhook.

Methods under ``/bot<token>/<method>`` (GET or POST, JSON or form parameters), answering
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description"}`` as Telegram
does: ``getMe``; ``sendMessage`` (``chat_id``, ``text``, ``parse_mode``), which refuses a chat
that never started the bot (403 "bot can't initiate conversation with a user"), a chat that
blocked it (403 "bot was blocked by the user"), an empty text (400) and more than
``rate_per_second`` messages a second (429 with ``parameters.retry_after``);
``setWebhook`` (``url``, ``secret_token``, ``allowed_updates``), ``getWebhookInfo``,
``deleteWebhook``. A wrong token is 401 "Unauthorized".

Updates go to the webhook as Telegram sends them: a JSON ``Update`` POSTed with the header
``X-Telegram-Bot-Api-Secret-Token`` (from the outbox, in order, in the background).

Control API under ``/_sandbox/``: ``state``, ``reset``, ``deliveries`` (the webhook log),
``POST start`` ``{"chat_id", "token", "first_name"}`` (a user opens the start link and presses
Start: ``/start <token>``; a blocked user unblocks first), ``POST limits``
``{"rate_per_second"}``, ``POST block`` ``{"chat_id"}`` (the
user blocks the bot: ``my_chat_member`` kicked), ``POST message`` ``{"chat_id", "text"}`` (the
user writes), ``GET messages?chat_id=`` (what the bot sent, with ``count``), and ``faults``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from copy import deepcopy
from typing import Any

from flask import Flask, Response, request

from connector_sandbox.common import Outbox, control_blueprint
from connector_sandbox.faults import FaultInjector

HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULTS: dict[str, Any] = {
    "token": "123456:sandbox-telegram-bot-token",
    "username": "sandbox_shop_bot",
    "rate_per_second": 30,  # Telegram's broadcast guidance: about 30 messages a second
    "webhook_timeout": 5.0,
}


class BotError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class TelegramState:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.bot_id = int(str(config["token"]).split(":", 1)[0] or 1)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users: dict[int, dict[str, Any]] = {}
            self.sent: dict[int, list[dict[str, Any]]] = {}
            self.webhook: dict[str, Any] = {}
            self.recent: deque[float] = deque()
            self.rate = int(self.config["rate_per_second"])
            self._update_ids = itertools.count(100001)
            self._message_ids = itertools.count(1)
            self._user_ids = itertools.count(700000001)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "users": {str(k): v for k, v in self.users.items()},
                    "sent": {str(k): v for k, v in self.sent.items()},
                    "webhook": {k: v for k, v in self.webhook.items() if k != "secret_token"},
                }
            )

    def bot(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Sandbox shop",
            "username": self.config["username"],
        }

    def user(self, chat_id: Any = None, first_name: str | None = None) -> dict[str, Any]:
        with self.lock:
            number = int(chat_id) if chat_id not in (None, "") else next(self._user_ids)
            return self.users.setdefault(
                number,
                {
                    "id": number,
                    "first_name": first_name or "Olena",
                    "started": False,
                    "blocked": False,
                },
            )

    # -- the Bot API ---------------------------------------------------------------------------

    def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, ""):
            raise BotError(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            raise BotError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise BotError(400, "Bad Request: message is too long")
        parse_mode = params.get("parse_mode")
        if parse_mode not in (None, "", "HTML", "Markdown", "MarkdownV2"):
            raise BotError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            raise BotError(400, "Bad Request: chat not found") from None
        with self.lock:
            now = time.monotonic()
            while self.recent and now - self.recent[0] >= 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.rate:
                wait = max(1, round(1.0 - (now - self.recent[0]) + 0.5))
                raise BotError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            user = self.users.get(number)
            if user is None:
                raise BotError(400, "Bad Request: chat not found")
            if user["blocked"]:
                raise BotError(403, "Forbidden: bot was blocked by the user")
            if not user["started"]:
                raise BotError(403, "Forbidden: bot can't initiate conversation with a user")
            self.recent.append(now)
            message = {
                "message_id": next(self._message_ids),
                "from": self.bot(),
                "chat": {"id": number, "first_name": user["first_name"], "type": "private"},
                "date": int(time.time()),
                "text": text,
            }
            self.sent.setdefault(number, []).append(message)
            return message

    # -- updates -------------------------------------------------------------------------------

    def update(self, **content: Any) -> dict[str, Any]:
        with self.lock:
            return {"update_id": next(self._update_ids), **content}

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "first_name": user["first_name"], "type": "private"}

    def sender(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "is_bot": False, "first_name": user["first_name"]}

    def member_update(self, user: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        return self.update(
            my_chat_member={
                "chat": self.private_chat(user),
                "from": self.sender(user),
                "date": int(time.time()),
                "old_chat_member": {"user": self.bot(), "status": old},
                "new_chat_member": {"user": self.bot(), "status": new},
            }
        )

    def message_update(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        with self.lock:
            message_id = next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self.sender(user),
            "chat": self.private_chat(user),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(" ", 1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.update(message=message)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.telegram")
    app.config["SANDBOX"] = settings
    state = TelegramState(settings)
    outbox = Outbox(timeout=float(settings["webhook_timeout"]))
    app.extensions["telegram"] = state

    def answer(payload: Any, status: int = 200) -> Response:
        text = json.dumps(payload, ensure_ascii=False)
        return Response(text, status, mimetype="application/json")

    @app.errorhandler(BotError)
    def bot_error(error: BotError) -> Response:
        return answer(error.body(), error.code)

    def deliver(update: dict[str, Any]) -> None:
        hook = state.webhook
        if not hook.get("url"):
            return
        wanted = hook.get("allowed_updates") or []
        kind = next(key for key in update if key != "update_id")
        if wanted and kind not in wanted:
            return
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers[HEADER] = hook["secret_token"]
        body = json.dumps(update, ensure_ascii=False).encode()
        outbox.post_later(hook["url"], body, headers, kind=kind)

    def params() -> dict[str, Any]:
        found: dict[str, Any] = dict(request.args.items())
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise BotError(400, "Bad Request: the body is not a JSON object")
            found.update(body)
        else:
            found.update(request.form.items())
        return found

    @app.route("/bot<token>/<method>", methods=["GET", "POST"])
    def method(token: str, method: str) -> Response:
        if token != settings["token"]:
            raise BotError(401, "Unauthorized")
        given = params()
        name = method.lower()
        if name == "getme":
            return answer({"ok": True, "result": state.bot()})
        if name == "sendmessage":
            return answer({"ok": True, "result": state.send_message(given)})
        if name == "setwebhook":
            url = given.get("url")
            if not isinstance(url, str):
                raise BotError(400, "Bad Request: url is empty")
            secret = given.get("secret_token")
            if secret is not None and (
                not isinstance(secret, str)
                or not 1 <= len(secret) <= 256
                or not all(c.isalnum() or c in "_-" for c in secret)
            ):
                raise BotError(400, "Bad Request: secret token contains unallowed characters")
            allowed = given.get("allowed_updates") or []
            if isinstance(allowed, str):
                allowed = json.loads(allowed)
            with state.lock:
                state.webhook = (
                    {"url": url, "secret_token": secret, "allowed_updates": list(allowed)}
                    if url
                    else {}
                )
            return answer({"ok": True, "result": True, "description": "Webhook was set"})
        if name == "deletewebhook":
            state.webhook = {}
            return answer({"ok": True, "result": True, "description": "Webhook was deleted"})
        if name == "getwebhookinfo":
            hook = state.webhook
            info = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "allowed_updates": hook.get("allowed_updates", []),
            }
            return answer({"ok": True, "result": info})
        raise BotError(404, "Not Found: method not found")

    # -- control API: what users do --------------------------------------------------------------

    def body() -> dict[str, Any]:
        found = request.get_json(silent=True)
        return found if isinstance(found, dict) else {}

    @app.post("/_sandbox/start")
    def start() -> Response:
        """A user opens `t.me/<bot>?start=<token>` and presses Start."""
        given = body()
        with state.lock:
            user = state.user(given.get("chat_id"), given.get("first_name"))
            if user["blocked"]:
                user["blocked"] = False
                deliver(state.member_update(user, "kicked", "member"))
            user["started"] = True
        token = str(given.get("token") or "")
        deliver(state.message_update(user, f"/start {token}" if token else "/start"))
        return answer({"chat_id": user["id"], "user": user}, 201)

    @app.post("/_sandbox/block")
    def block() -> Response:
        given = body()
        with state.lock:
            user = state.users.get(int(given.get("chat_id") or 0))
            if user is None:
                return answer({"error": "no such user"}, 404)
            if not user["blocked"]:
                user["blocked"] = True
                deliver(state.member_update(user, "member", "kicked"))
        return answer({"chat_id": user["id"], "user": user})

    @app.post("/_sandbox/message")
    def write() -> Response:
        given = body()
        with state.lock:
            user = state.user(given.get("chat_id"), given.get("first_name"))
            user["started"] = True
        deliver(state.message_update(user, str(given.get("text") or "")))
        return answer({"chat_id": user["id"]}, 201)

    @app.post("/_sandbox/limits")
    def limits() -> Response:
        """Sets the messages a second the bot may send (back to the default on reset)."""
        with state.lock:
            state.rate = int(body().get("rate_per_second") or settings["rate_per_second"])
        return answer({"rate_per_second": state.rate})

    @app.get("/_sandbox/messages")
    def messages() -> Response:
        chat = request.args.get("chat_id")
        with state.lock:
            if chat:
                found = list(state.sent.get(int(chat), []))
            else:
                found = [m for sent in state.sent.values() for m in sent]
        return answer({"count": len(found), "messages": found})

    app.register_blueprint(control_blueprint(state, outbox))
    FaultInjector(app, _fault_body)
    return app


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {"ok": False, "error_code": status, "description": "Internal Server Error"}
    return "application/json", json.dumps(body).encode()
