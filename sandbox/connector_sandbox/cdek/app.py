"""The CDEK API v2 emulator (specs/delivery/cdek/, research/shop_delivery_loyalty.md §4.1).

``POST /v2/oauth/token`` takes ``grant_type=client_credentials`` with
``client_id``/``client_secret`` in the query or a form body and issues a bearer token valid
``expires_in`` (3599 s). ``POST /v2/orders`` answers 202 with the entity uuid and a request in
state ACCEPTED; the order is then validated in the background (``processing_delay`` seconds): the
request becomes SUCCESSFUL, a ``cdek_number`` appears and the status CREATED is added. ``GET
/v2/orders/{uuid}`` and ``GET /v2/orders?im_number=|cdek_number=`` answer like
order.get.response.json (newest status first). ``POST /v2/webhooks`` keeps one URL per type;
``ORDER_STATUS`` events are POSTed there as in webhook.ORDER_STATUS.json, unsigned and never
re-sent. The control API moves a parcel through its statuses.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from copy import deepcopy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connector_sandbox.common import Outbox, control_blueprint, new_uuid
from connector_sandbox.faults import FaultInjector

DEFAULTS: dict[str, Any] = {
    "client_id": "sandbox-cdek-account",
    "client_secret": "sandbox-cdek-secure-password",
    "token_lifetime": 3599,
    "processing_delay": 0.0,
    "utc_offset_hours": 7,
    "webhook_timeout": 5.0,
}
# status code -> (legacy numeric code, Russian name), from CDEK's status table
STATUSES: dict[str, tuple[str, str]] = {
    "ACCEPTED": ("", "Принят"),
    "CREATED": ("1", "Создан"),
    "REMOVED": ("2", "Удален"),
    "RECEIVED_AT_SHIPMENT_WAREHOUSE": ("3", "Принят на склад отправителя"),
    "READY_FOR_SHIPMENT_IN_SENDER_CITY": ("6", "Выдан на отправку в г. отправителе"),
    "RETURNED_TO_SENDER_CITY_WAREHOUSE": ("16", "Возвращен на склад отправителя"),
    "TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY": ("7", "Сдан перевозчику в г. отправителе"),
    "SENT_TO_TRANSIT_CITY": ("21", "Отправлен в г. транзит"),
    "ACCEPTED_IN_TRANSIT_CITY": ("22", "Встречен в г. транзите"),
    "ACCEPTED_AT_TRANSIT_WAREHOUSE": ("13", "Принят на склад транзита"),
    "RETURNED_TO_TRANSIT_WAREHOUSE": ("17", "Возвращен на склад транзита"),
    "READY_FOR_SHIPMENT_IN_TRANSIT_CITY": ("19", "Выдан на отправку в г. транзите"),
    "TAKEN_BY_TRANSPORTER_FROM_TRANSIT_CITY": ("20", "Сдан перевозчику в г. транзите"),
    "SENT_TO_SENDER_CITY": ("27", "Отправлен в г. отправитель"),
    "SENT_TO_RECIPIENT_CITY": ("8", "Отправлен в г. получатель"),
    "ACCEPTED_IN_SENDER_CITY": ("28", "Встречен в г. отправителе"),
    "ACCEPTED_IN_RECIPIENT_CITY": ("9", "Встречен в г. получателе"),
    "ACCEPTED_AT_RECIPIENT_CITY_WAREHOUSE": ("10", "Принят на склад доставки"),
    "ACCEPTED_AT_PICK_UP_POINT": ("12", "Принят на склад до востребования"),
    "TAKEN_BY_COURIER": ("11", "Выдан на доставку"),
    "RETURNED_TO_RECIPIENT_CITY_WAREHOUSE": ("18", "Возвращен на склад доставки"),
    "POSTOMAT_POSTED": ("", "Заложен в постамат"),
    "POSTOMAT_SEIZED": ("", "Изъят из постамата курьером"),
    "POSTOMAT_RECEIVED": ("", "Изъят из постамата клиентом"),
    "DELIVERED": ("4", "Вручен"),
    "NOT_DELIVERED": ("5", "Не вручен"),
    "INVALID": ("", "Некорректный заказ"),
}
HAPPY_PATH = (
    "RECEIVED_AT_SHIPMENT_WAREHOUSE",
    "READY_FOR_SHIPMENT_IN_SENDER_CITY",
    "TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY",
    "SENT_TO_RECIPIENT_CITY",
    "ACCEPTED_IN_RECIPIENT_CITY",
    "ACCEPTED_AT_PICK_UP_POINT",
    "DELIVERED",
)
REQUIRED = ("tariff_code", "recipient", "packages")


class CdekError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "GET") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind

    def body(self, zone: timezone) -> dict[str, Any]:
        return {
            "requests": [
                {
                    "request_uuid": new_uuid(),
                    "type": self.kind,
                    "date_time": cdek_time(zone),
                    "state": "INVALID",
                    "errors": [{"code": self.code, "message": self.message}],
                }
            ]
        }


def cdek_time(zone: timezone, moment: datetime | None = None) -> str:
    """CDEK prints ``2019-07-11T13:07:34+0700``."""
    return (moment or datetime.now(UTC)).astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S%z")


class CdekState:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.zone = timezone(timedelta(hours=float(config["utc_offset_hours"])))
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tokens: dict[str, float] = {}
            self.orders: dict[str, dict[str, Any]] = {}
            self.requests: dict[str, list[dict[str, Any]]] = {}
            self.webhooks: dict[str, dict[str, Any]] = {}
            self._next_number = 1106000000

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {"orders": self.orders, "requests": self.requests, "webhooks": self.webhooks}
            )

    def next_cdek_number(self) -> str:
        self._next_number += 1
        return str(self._next_number)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.cdek")
    app.config["SANDBOX"] = settings
    state = CdekState(settings)
    outbox = Outbox(timeout=settings["webhook_timeout"])
    app.extensions["cdek"] = state

    def answer(payload: Any, status: int = 200) -> Response:
        return Response(
            json.dumps(payload, ensure_ascii=False), status, mimetype="application/json"
        )

    def notify(order: dict[str, Any], status: dict[str, Any]) -> None:
        hook = next((h for h in state.webhooks.values() if h["type"] == "ORDER_STATUS"), None)
        if hook is None:
            return
        numeric, _ = STATUSES.get(status["code"], ("", ""))
        event = {
            "type": "ORDER_STATUS",
            "date_time": cdek_time(state.zone),
            "uuid": order["uuid"],
            "attributes": {
                "is_return": order["is_return"],
                "is_reverse": order["is_reverse"],
                "is_client_return": order["is_client_return"],
                "cdek_number": order.get("cdek_number", ""),
                "number": order.get("number", ""),
                "code": status["code"],
                "status_code": numeric,
                "status_date_time": status["date_time"],
                "city": status["city"],
            },
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        outbox.post_later(hook["url"], body, headers, kind=f"webhook:{status['code']}")

    def add_status(order: dict[str, Any], code: str, city: str = "", when: str = "") -> dict:
        if code not in STATUSES:
            raise CdekError(400, "v2_bad_request", f"Unknown status code {code}")
        status = {
            "code": code,
            "name": STATUSES[code][1],
            "date_time": when or cdek_time(state.zone),
            "city": city or order["to_location"].get("city", "Офис СДЭК"),
        }
        order["statuses"].insert(0, status)
        notify(order, status)
        return status

    def validate(uuid: str) -> None:
        with state.lock:
            order = state.orders.get(uuid)
            if order is None or order.get("cdek_number"):
                return
            order["cdek_number"] = state.next_cdek_number()
            for item in state.requests[uuid]:
                if item["type"] == "CREATE":
                    item["state"] = "SUCCESSFUL"
            add_status(order, "CREATED", "Офис СДЭК")

    @app.before_request
    def authenticate() -> None:
        if not request.path.startswith("/v2/") or request.path == "/v2/oauth/token":
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expires is None or expires < time.time():
            raise _Unauthorized()

    @app.post("/v2/oauth/token")
    def token() -> Response:
        values = request.args.to_dict() | request.form.to_dict()
        if values.get("grant_type") != "client_credentials":
            return answer({"error": "unsupported_grant_type"}, 400)
        if (values.get("client_id"), values.get("client_secret")) != (
            settings["client_id"],
            settings["client_secret"],
        ):
            return answer({"error": "invalid_client", "error_description": "Bad credentials"}, 401)
        access = secrets.token_urlsafe(48)
        with state.lock:
            state.tokens[access] = time.time() + settings["token_lifetime"]
        return answer(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": settings["token_lifetime"],
                "scope": "location:all order:all payment:all",
                "jti": secrets.token_urlsafe(20),
            }
        )

    @app.post("/v2/orders")
    def order_create() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise CdekError(400, "v2_bad_request", "Request body is not valid JSON", "CREATE")
        for field in REQUIRED:
            if not body.get(field):
                raise CdekError(400, "v2_field_is_empty", f"Field [{field}] is empty", "CREATE")
        if not (body.get("to_location") or body.get("delivery_point")):
            raise CdekError(400, "v2_field_is_empty", "Field [to_location] is empty", "CREATE")
        with state.lock:
            number = body.get("number")
            if number and any(o.get("number") == number for o in state.orders.values()):
                raise CdekError(
                    400,
                    "v2_entity_already_exists",
                    f"Order with number {number} already exists",
                    "CREATE",
                )
            uuid = new_uuid()
            order = {
                "uuid": uuid,
                "type": int(body.get("type", 1)),
                "is_return": False,
                "is_reverse": False,
                **body,
                "seller": body.get("seller") or {"name": "Sandbox shop"},
                "from_location": dict(body.get("from_location") or {}),
                "to_location": dict(body.get("to_location") or {}),
                "statuses": [],
                "is_client_return": False,
                "delivery_detail": {"total_sum": 0, "payment_info": []},
                "calls": {},
            }
            state.orders[uuid] = order
            created = {
                "request_uuid": new_uuid(),
                "type": "CREATE",
                "date_time": cdek_time(state.zone),
                "state": "ACCEPTED",
            }
            state.requests[uuid] = [created]
            add_status(order, "ACCEPTED", "Офис СДЭК")
            reply = {"entity": {"uuid": uuid}, "requests": [dict(created)], "related_entities": []}
        timer = threading.Timer(settings["processing_delay"], validate, args=(uuid,))
        timer.daemon = True
        timer.start()
        return answer(reply, 202)

    def order_view(uuid: str) -> dict[str, Any]:
        order = state.orders.get(uuid)
        if order is None:
            raise CdekError(404, "v2_entity_not_found", f"Entity is not found, uuid: {uuid}")
        return {
            "entity": deepcopy(order),
            "requests": deepcopy(state.requests[uuid]),
            "related_entities": [],
        }

    @app.get("/v2/orders/<uuid>")
    def order_get(uuid: str) -> Response:
        with state.lock:
            return answer(order_view(uuid))

    @app.get("/v2/orders")
    def order_find() -> Response:
        with state.lock:
            for order in state.orders.values():
                if (
                    request.args.get("im_number")
                    and order.get("number") == request.args["im_number"]
                ):
                    return answer(order_view(order["uuid"]))
                cdek = request.args.get("cdek_number")
                if cdek and order.get("cdek_number") == cdek:
                    return answer(order_view(order["uuid"]))
        raise CdekError(404, "v2_entity_not_found", "Entity is not found")

    @app.delete("/v2/orders/<uuid>")
    def order_delete(uuid: str) -> Response:
        with state.lock:
            order = state.orders.get(uuid)
            if order is None:
                raise CdekError(404, "v2_entity_not_found", "Entity is not found", "DELETE")
            removed = {
                "request_uuid": new_uuid(),
                "type": "DELETE",
                "date_time": cdek_time(state.zone),
                "state": "ACCEPTED",
            }
            state.requests[uuid].append(removed)
            add_status(order, "REMOVED")
            return answer({"entity": {"uuid": uuid}, "requests": [removed], "related_entities": []})

    @app.route("/v2/webhooks", methods=["GET", "POST"])
    def webhooks() -> Response:
        with state.lock:
            if request.method == "GET":
                return answer(list(state.webhooks.values()))
            body = request.get_json(silent=True) or {}
            if not body.get("url") or not body.get("type"):
                raise CdekError(400, "v2_field_is_empty", "Field [url] is empty", "CREATE")
            for uuid, hook in list(state.webhooks.items()):
                if hook["type"] == body["type"]:
                    del state.webhooks[uuid]
            uuid = new_uuid()
            state.webhooks[uuid] = {"uuid": uuid, "type": body["type"], "url": body["url"]}
            created = {
                "request_uuid": new_uuid(),
                "type": "CREATE",
                "date_time": cdek_time(state.zone),
                "state": "SUCCESSFUL",
            }
            return answer({"entity": {"uuid": uuid}, "requests": [created]})

    @app.route("/v2/webhooks/<uuid>", methods=["GET", "DELETE"])
    def webhook(uuid: str) -> Response:
        with state.lock:
            hook = state.webhooks.get(uuid)
            if hook is None:
                raise CdekError(404, "v2_entity_not_found", "Entity is not found")
            if request.method == "GET":
                return answer({"entity": hook, "requests": []})
            del state.webhooks[uuid]
            deleted = {
                "request_uuid": new_uuid(),
                "type": "DELETE",
                "date_time": cdek_time(state.zone),
                "state": "SUCCESSFUL",
            }
            return answer({"entity": {"uuid": uuid}, "requests": [deleted]})

    control = Blueprint("cdek_sandbox", __name__, url_prefix="/_sandbox")

    @control.post("/orders/<uuid>/status")
    def move(uuid: str) -> Response:
        """Moves a parcel: ``{"code": "DELIVERED", "city": "..."}`` or ``{"codes": [...]}``;
        ``{"to": "DELIVERED"}`` walks the usual path up to that status."""
        body = request.get_json(silent=True) or {}
        validate(uuid)
        with state.lock:
            order = state.orders.get(uuid) or next(
                (
                    o
                    for o in state.orders.values()
                    if uuid in (o.get("number"), o.get("cdek_number"))
                ),
                None,
            )
            if order is None:
                raise CdekError(404, "v2_entity_not_found", "Entity is not found")
            codes = list(body.get("codes") or ([body["code"]] if body.get("code") else []))
            if body.get("to"):
                done = {s["code"] for s in order["statuses"]}
                end = HAPPY_PATH.index(body["to"]) if body["to"] in HAPPY_PATH else -1
                codes += [c for c in HAPPY_PATH[: end + 1] if c not in done]
                if end < 0:
                    codes.append(body["to"])
            added = [add_status(order, code, body.get("city", "")) for code in codes]
        outbox.wait()
        return jsonify({"uuid": order["uuid"], "added": added, "statuses": order["statuses"]})

    @control.post("/orders/<uuid>/process")
    def process(uuid: str) -> Response:
        """Finishes registration now (request SUCCESSFUL, cdek_number, status CREATED)."""
        validate(uuid)
        outbox.wait()
        with state.lock:
            return answer(order_view(uuid))

    @control.get("/statuses")
    def status_table() -> Response:
        return answer(
            {code: {"status_code": n, "name": name} for code, (n, name) in STATUSES.items()}
        )

    app.register_blueprint(control)
    app.register_blueprint(control_blueprint(state, outbox), name="sandbox_base")

    @app.errorhandler(CdekError)
    def refusal(error: CdekError) -> Response:
        return answer(error.body(state.zone), error.status)

    @app.errorhandler(_Unauthorized)
    def unauthorized(_: Exception) -> Response:
        body = {"error": "invalid_token", "error_description": "Invalid or expired access token"}
        return answer(body, 401)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = "v2_entity_not_found" if error.code == 404 else "v2_bad_request"
        return answer(
            CdekError(error.code or 500, code, error.name).body(state.zone), error.code or 500
        )

    FaultInjector(app, _fault_body)
    return app


class _Unauthorized(Exception):
    pass


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {"errors": [{"code": "v2_internal_error", "message": "Internal server error"}]}
    return "application/json", json.dumps(body).encode()
