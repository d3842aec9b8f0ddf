"""The SMS.ru HTTP API emulator (specs/smsru/README.md): send, status, balance, callbacks.

Like the real API it takes GET or form POST parameters, checks ``api_id`` on every call and answers
HTTP 200 whatever happened, with ``{"status": "OK"|"ERROR", "status_code", "status_text"}``
(``json=1``). ``sms/send`` answers per number under ``sms``: an ``sms_id`` or that number's own
error code (202 not a number, 207 no route for the prefixes in ``no_route``, 209 on the stop
list, 230 past ``daily_limit`` messages to the number today, 231 the same text to the number more
than ``same_text_per_minute`` times in a minute); 201 when the balance cannot pay. ``test=1``
checks and answers but sends nothing. Each sent message then moves 100 -> 102 -> 103 (unless
``auto_deliver`` is off) and every callback URL (``callback/add``) receives each change as SMS.ru
sends it: a form of ``data[0]=sms_status\\n<sms_id>\\n<code>\\n<unix time>`` and ``hash`` =
sha256(api_id + entries), answered ``100``.

Control API under ``/_sandbox/``: ``state``, ``reset``, ``deliveries`` (callbacks sent),
``messages?to=`` (what reached a number, with ``count``), ``sms/<sms_id>/status`` (the operator
moves a message: ``{"code": 104}``), ``stoplist`` (``{"phone": "7925..."}``), ``faults``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from copy import deepcopy
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from connector_sandbox.common import Outbox, control_blueprint
from connector_sandbox.faults import FaultInjector

DEFAULTS: dict[str, Any] = {
    "api_id": "00000000-0000-0000-0000-000000000000",
    "balance": 1000.0,
    "cost": 2.5,
    "daily_limit": 100,  # 230: messages a number may receive in a day
    "same_text_per_minute": 3,  # 231: the same text to one number within a minute
    "no_route": ["7000"],  # 207: number prefixes without a route
    "auto_deliver": True,  # 102 then 103 follow every send
    "webhook_timeout": 5.0,
}
TEXTS = {
    100: "Сообщение находится в очереди",
    101: "Сообщение передается оператору",
    102: "Сообщение отправлено (в пути)",
    103: "Сообщение доставлено",
    104: "Не может быть доставлено: время жизни истекло",
    105: "Не может быть доставлено: удалено оператором",
    106: "Не может быть доставлено: сбой в телефоне",
    107: "Не может быть доставлено: неизвестная причина",
    108: "Не может быть доставлено: отклонено",
    150: "Не может быть доставлено: не найден маршрут на данный номер",
    200: "Неправильный api_id",
    201: "Не хватает средств на лицевом счету",
    202: "Неправильно указан номер телефона получателя, либо на него нет маршрута",
    203: "Нет текста сообщения",
    207: "На этот номер нет маршрута для доставки сообщений",
    209: "Номер добавлен в стоп-лист",
    230: "Превышен общий лимит количества сообщений на этот номер в день",
    231: "Превышен лимит одинаковых сообщений на этот номер в минуту",
    -1: "Сообщение не найдено",
}


class SmsruRefusal(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(TEXTS.get(code, "error"))
        self.code = code


class SmsruState:
    """The account: balance, messages, stop list, callback URLs; one lock around all of it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.balance = float(self.config["balance"])
            self.messages: dict[str, dict[str, Any]] = {}
            self.stoplist: set[str] = set()
            self.callbacks: list[str] = []
            self.refusals: list[dict[str, Any]] = []
            self._next = 1

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "balance": self.balance,
                    "messages": list(self.messages.values()),
                    "stoplist": sorted(self.stoplist),
                    "callbacks": self.callbacks,
                    "refusals": self.refusals,
                    "counts": self.counts(),
                }
            )

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for message in self.messages.values():
            found[message["to"]] = found.get(message["to"], 0) + 1
        return found

    def send_one(self, to: str, text: str, sender: str, test: bool) -> dict[str, Any]:
        """One number's answer; raises SmsruRefusal with that number's code."""
        now = time.time()
        if not (to.isdigit() and 10 <= len(to) <= 15):
            raise SmsruRefusal(202)
        if any(to.startswith(prefix) for prefix in self.config["no_route"]):
            raise SmsruRefusal(207)
        if to in self.stoplist:
            raise SmsruRefusal(209)
        sent = [m for m in self.messages.values() if m["to"] == to]
        if sum(1 for m in sent if now - m["sent_at"] < 86_400) >= self.config["daily_limit"]:
            raise SmsruRefusal(230)
        same = [m for m in sent if m["text"] == text and now - m["sent_at"] < 60]
        if len(same) >= self.config["same_text_per_minute"]:
            raise SmsruRefusal(231)
        cost = float(self.config["cost"])
        number = self._next
        self._next += 1
        sms_id = f"{number // 100000:06d}-{number % 100000 + 10000000}"
        if test:
            return {"status": "OK", "status_code": 100, "sms_id": sms_id, "cost": "0.00", "sms": 1}
        self.balance -= cost
        self.messages[sms_id] = {
            "sms_id": sms_id,
            "to": to,
            "text": text,
            "from": sender,
            "status_code": 100,
            "sent_at": now,
            "history": [100],
        }
        return {
            "status": "OK",
            "status_code": 100,
            "sms_id": sms_id,
            "cost": f"{cost:.2f}",
            "sms": 1,
        }


def entry(sms_id: str, code: int, at: float | None = None) -> str:
    return f"sms_status\n{sms_id}\n{code}\n{int(at or time.time())}"


def callback_hash(api_id: str, entries: list[str]) -> str:
    return hashlib.sha256((api_id + "".join(entries)).encode("utf-8")).hexdigest()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.smsru")
    app.config["SANDBOX"] = settings
    state = SmsruState(settings)
    outbox = Outbox(timeout=settings["webhook_timeout"])
    app.extensions["smsru"] = state

    def answer(payload: Any) -> Response:
        if request.values.get("json") != "1":  # the plain-text answer: code, then lines
            lines = [str(payload.get("status_code"))]
            for one in (payload.get("sms") or {}).values():
                lines.append(str(one.get("sms_id") or one.get("status_code")))
            if "balance" in payload:
                lines.append(f"balance={payload['balance']}")
            return Response("\n".join(lines), 200, mimetype="text/plain")
        return Response(json.dumps(payload, ensure_ascii=False), 200, mimetype="application/json")

    def refusal(code: int) -> Response:
        return answer({"status": "ERROR", "status_code": code, "status_text": TEXTS.get(code, "")})

    def notify(sms_id: str, code: int) -> None:
        """Every callback URL gets the change, as SMS.ru posts it."""
        entries = [entry(sms_id, code)]
        form = {f"data[{i}]": value for i, value in enumerate(entries)}
        form["hash"] = callback_hash(settings["api_id"], entries)
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for url in list(state.callbacks):
            outbox.post_later(url, body, headers, kind=f"sms_status:{code}")

    def move(sms_id: str, code: int) -> dict[str, Any]:
        with state.lock:
            message = state.messages.get(sms_id)
            if message is None:
                raise SmsruRefusal(-1)
            message["status_code"] = code
            message["history"].append(code)
            found = deepcopy(message)
        notify(sms_id, code)
        return found

    @app.before_request
    def authenticate() -> Response | None:
        if request.path.startswith("/_sandbox/"):
            return None
        if request.values.get("api_id") != settings["api_id"]:
            return refusal(200)
        return None

    @app.errorhandler(SmsruRefusal)
    def refused(error: SmsruRefusal) -> Response:
        return refusal(error.code)

    @app.route("/sms/send", methods=["GET", "POST"])
    def send() -> Response:
        values = request.values
        texts: dict[str, str] = {}
        if values.get("to"):
            for to in values["to"].split(","):
                texts[to.strip()] = values.get("msg", "")
        for key, value in values.items():
            if key.startswith("multi[") and key.endswith("]"):
                texts[key[6:-1]] = value
        if not texts:
            return refusal(202)
        if any(not text for text in texts.values()):
            return refusal(203)
        test = values.get("test") == "1"
        results: dict[str, Any] = {}
        sent: list[str] = []
        with state.lock:
            if not test and state.balance < float(settings["cost"]) * len(texts):
                return refusal(201)
            for to, text in texts.items():
                try:
                    results[to] = state.send_one(to, text, values.get("from", ""), test)
                    if not test:
                        sent.append(results[to]["sms_id"])
                except SmsruRefusal as error:
                    state.refusals.append({"to": to, "code": error.code})
                    results[to] = {
                        "status": "ERROR",
                        "status_code": error.code,
                        "status_text": TEXTS.get(error.code, ""),
                    }
            balance = round(state.balance, 2)
        if settings["auto_deliver"]:
            for sms_id in sent:
                move(sms_id, 102)
                move(sms_id, 103)
        return answer({"status": "OK", "status_code": 100, "sms": results, "balance": balance})

    @app.route("/sms/status", methods=["GET", "POST"])
    def status() -> Response:
        found: dict[str, Any] = {}
        for sms_id in (request.values.get("sms_id") or "").split(","):
            sms_id = sms_id.strip()
            with state.lock:
                message = state.messages.get(sms_id)
                if message is None:
                    found[sms_id] = {"status": "ERROR", "status_code": -1, "status_text": TEXTS[-1]}
                    continue
                code = message["status_code"]
            found[sms_id] = {"status": "OK", "status_code": code, "status_text": TEXTS.get(code)}
        return answer({"status": "OK", "status_code": 100, "sms": found, "balance": state.balance})

    @app.route("/my/balance", methods=["GET", "POST"])
    def balance() -> Response:
        return answer({"status": "OK", "status_code": 100, "balance": round(state.balance, 2)})

    @app.route("/callback/add", methods=["GET", "POST"])
    def callback_add() -> Response:
        url = request.values.get("url") or ""
        if not url.startswith(("http://", "https://")):
            return answer({"status": "ERROR", "status_code": 202, "status_text": "bad url"})
        with state.lock:
            if url not in state.callbacks:
                state.callbacks.append(url)
            held = list(state.callbacks)
        return answer({"status": "OK", "status_code": 100, "callback": held})

    @app.route("/callback/del", methods=["GET", "POST"])
    def callback_del() -> Response:
        with state.lock:
            url = request.values.get("url")
            state.callbacks = [held for held in state.callbacks if held != url]
            held = list(state.callbacks)
        return answer({"status": "OK", "status_code": 100, "callback": held})

    @app.route("/callback/get", methods=["GET", "POST"])
    def callback_get() -> Response:
        with state.lock:
            held = list(state.callbacks)
        return answer({"status": "OK", "status_code": 100, "callback": held})

    # -- control API -----------------------------------------------------------------------------

    app.register_blueprint(control_blueprint(state, outbox), name="sandbox_base")

    def control_answer(payload: Any, status: int = 200) -> Response:
        return Response(
            json.dumps(payload, ensure_ascii=False), status, mimetype="application/json"
        )

    @app.get("/_sandbox/messages")
    def messages() -> Response:
        to = (request.args.get("to") or "").lstrip("+")
        with state.lock:
            found = [deepcopy(m) for m in state.messages.values() if not to or m["to"] == to]
        return control_answer({"count": len(found), "messages": found})

    @app.post("/_sandbox/sms/<sms_id>/status")
    def operator_moves(sms_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, int) or code not in TEXTS or code >= 200:
            return control_answer({"error": "code: a delivery status code (100-150)"}, 400)
        try:
            return control_answer(move(sms_id, code))
        except SmsruRefusal:
            return control_answer({"error": f"no message {sms_id}"}, 404)

    @app.post("/_sandbox/stoplist")
    def stoplist() -> Response:
        body = request.get_json(silent=True) or {}
        phone = str(body.get("phone") or "").lstrip("+") if isinstance(body, dict) else ""
        if not phone:
            return control_answer({"error": "phone: missing"}, 400)
        with state.lock:
            state.stoplist.add(phone)
        return control_answer({"stoplist": sorted(state.stoplist)})

    FaultInjector(app)
    return app
