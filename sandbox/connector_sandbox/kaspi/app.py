"""The Kaspi.kz merchant API emulator (specs/kaspi/README.md): orders, their lines, status changes.

Served under ``/shop/api/v2`` like the real API, JSON:API both ways, ``X-Auth-Token`` checked on
every call (401 otherwise). ``GET /orders`` insists on what Kaspi insists on: ``page[number]``
(from 0) and ``page[size]`` (1..100), a creation window ``filter[orders][creationDate][$ge]`` /
``[$le]`` in epoch ms of at most 14 days, and ``filter[orders][state]``; a ``filter[orders][code]``
lookup needs only the page. Each refusal is a 400 with ``{"errors": [{"status", "title",
"detail"}]}`` naming the parameter. Orders are listed oldest first, with ``meta.pageCount`` and
``meta.totalCount``. ``POST /orders`` (and ``PATCH /orders/{id}``) changes a status under Kaspi's
rules: accept only APPROVED_BY_BANK, cancel (with a valid ``cancellationReason``) only
APPROVED_BY_BANK or ACCEPTED_BY_MERCHANT, complete only ACCEPTED_BY_MERCHANT and only with the
code sent to the buyer (first call: ``X-Send-Code: true`` and an empty ``X-Security-Code``).

Control API under ``/_sandbox/``: ``state``, ``reset``, ``POST orders`` (a buyer places an order),
``POST orders/<code>/status`` (Kaspi's side moves it: a buyer's cancellation, a return), and
``faults`` (the common fault injector: a share of calls answer 5xx).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from copy import deepcopy
from typing import Any

from flask import Flask, Response, request

from connector_sandbox.faults import FaultInjector

PREFIX = "/shop/api/v2"
MAX_PAGE_SIZE = 100
MAX_WINDOW_MS = 14 * 86_400_000
STATES = ("NEW", "SIGN_REQUIRED", "PICKUP", "DELIVERY", "KASPI_DELIVERY", "ARCHIVE")
STATUSES = (
    "APPROVED_BY_BANK",
    "ACCEPTED_BY_MERCHANT",
    "COMPLETED",
    "CANCELLED",
    "CANCELLING",
    "KASPI_DELIVERY_RETURN_REQUESTED",
    "RETURN_ACCEPTED_BY_MERCHANT",
    "RETURNED",
)
CANCELLATION_REASONS = (
    "BUYER_CANCELLATION_BY_MERCHANT",
    "BUYER_NOT_REACHABLE",
    "MERCHANT_OUT_OF_STOCK",
)
DEFAULTS: dict[str, Any] = {"token": "sandbox-kaspi-token"}


class KaspiError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail

    def body(self) -> dict[str, Any]:
        error = {"status": str(self.status), "title": self.title}
        if self.detail:
            error["detail"] = self.detail
        return {"errors": [error]}


def _opaque(prefix: str, number: int | str) -> str:
    """Kaspi's ids look like unpadded base64: `MTQ1MjM0NTY3OA`."""
    return base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


class KaspiState:
    """The merchant's orders, their lines and products; one lock around all of it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[str, dict[str, Any]] = {}
            self.entries: dict[str, dict[str, Any]] = {}
            self.masters: dict[str, dict[str, Any]] = {}
            self.security_codes: dict[str, str] = {}
            self.changes: list[dict[str, Any]] = []
            self._next = 1

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "orders": list(self.orders.values()),
                    "entries": list(self.entries.values()),
                    "products": list(self.masters.values()),
                    "security_codes": self.security_codes,
                    "changes": self.changes,
                }
            )

    # -- a buyer's order ------------------------------------------------------------------------

    def place(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new order as a buyer's checkout leaves it: APPROVED_BY_BANK in state NEW."""
        with self.lock:
            number = self._next
            self._next += 1
            order_id = str(body.get("id") or _opaque("order", 1452345678 + number))
            code = str(body.get("code") or 612345677 + number)
            if any(o["attributes"]["code"] == code for o in self.orders.values()):
                raise KaspiError(409, "Conflict", f"order code {code} exists")
            created = int(body.get("creationDate") or time.time() * 1000)
            lines = body.get("lines") or [{"sku": "SKU-1", "name": "Item", "quantity": 1}]
            entry_ids = []
            total = 0.0
            for index, line in enumerate(lines):
                entry_id = _opaque(f"entry{number}-", index)
                master_id = _opaque("master-", str(line.get("sku")))
                price = float(line.get("price") or 1000.0)
                quantity = int(line.get("quantity") or 1)
                total += price * quantity
                self.masters[master_id] = {
                    "id": master_id,
                    "code": f"kaspi-{line.get('sku')}",
                    "name": line.get("name") or str(line.get("sku")),
                    "merchant_code": str(line.get("sku")),
                }
                self.entries[entry_id] = {
                    "id": entry_id,
                    "order_id": order_id,
                    "master_id": master_id,
                    "attributes": {
                        "unitType": "PIECES",
                        "quantity": quantity,
                        "basePrice": price,
                        "totalPrice": price * quantity,
                        "entryNumber": index,
                        "category": {"code": "Master - Goods", "title": "Товары"},
                        "deliveryCost": 0.0,
                    },
                }
                entry_ids.append(entry_id)
            status = str(body.get("status") or "APPROVED_BY_BANK")
            order = {
                "id": order_id,
                "entry_ids": entry_ids,
                "attributes": {
                    "code": code,
                    "totalPrice": float(body.get("totalPrice") or total),
                    "paymentMode": body.get("paymentMode") or "PREPAID",
                    "creationDate": created,
                    "approvedByBankDate": created + 45_000,
                    "plannedDeliveryDate": created + 2 * 86_400_000,
                    "deliveryMode": body.get("deliveryMode") or "DELIVERY_LOCAL",
                    "isKaspiDelivery": bool(body.get("isKaspiDelivery", False)),
                    "deliveryCost": 0.0,
                    "deliveryCostForSeller": 0.0,
                    "deliveryAddress": body.get("deliveryAddress")
                    or {
                        "streetName": "проспект Абая",
                        "streetNumber": "150",
                        "town": "Алматы",
                        "formattedAddress": "Алматы, проспект Абая, 150",
                    },
                    "signatureRequired": False,
                    "creditTerm": None,
                    "preOrder": False,
                    "pickupPointId": "sandbox_PP1",
                    "state": str(body.get("state") or "NEW"),
                    "status": status,
                    "customer": {
                        "id": _opaque("cust", number),
                        "name": None,
                        "cellPhone": str(body.get("cellPhone") or "7011234567"),
                        "firstName": body.get("firstName") or "Айгерим",
                        "lastName": body.get("lastName") or "Садыкова",
                    },
                },
            }
            self.orders[order_id] = order
            return order

    def by_code(self, code: str) -> dict[str, Any]:
        with self.lock:
            for order in self.orders.values():
                if order["attributes"]["code"] == str(code):
                    return order
        raise KaspiError(404, "Not Found", f"no order with code {code}")

    def get(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            order = self.orders.get(order_id)
        if order is None:
            raise KaspiError(404, "Not Found", f"no order {order_id}")
        return order

    def move(self, order: dict[str, Any], status: str, by: str, **extra: Any) -> None:
        attributes = order["attributes"]
        attributes["status"] = status
        if status in ("COMPLETED", "CANCELLED", "RETURNED"):
            attributes["state"] = "ARCHIVE"
        elif status == "ACCEPTED_BY_MERCHANT":
            mode = attributes.get("deliveryMode")
            attributes["state"] = (
                "KASPI_DELIVERY"
                if attributes.get("isKaspiDelivery")
                else "PICKUP"
                if mode == "DELIVERY_PICKUP"
                else "DELIVERY"
            )
        attributes.update(extra)
        self.changes.append({"code": attributes["code"], "status": status, "by": by})

    # -- the merchant's status change ------------------------------------------------------------

    def change(self, order_id: str, attributes: dict[str, Any], headers: Any) -> dict[str, Any]:
        with self.lock:
            order = self.get(order_id)
            current = order["attributes"]["status"]
            if str(attributes.get("code") or "") != order["attributes"]["code"]:
                raise KaspiError(400, "Bad Request", "attributes.code does not match the order")
            wanted = attributes.get("status")
            if wanted == "ACCEPTED_BY_MERCHANT":
                if current != "APPROVED_BY_BANK":
                    raise KaspiError(400, "Bad Request", f"cannot accept an order in {current}")
                self.move(order, wanted, "merchant")
            elif wanted == "CANCELLED":
                if current not in ("APPROVED_BY_BANK", "ACCEPTED_BY_MERCHANT"):
                    raise KaspiError(400, "Bad Request", f"cannot cancel an order in {current}")
                reason = attributes.get("cancellationReason")
                if reason not in CANCELLATION_REASONS:
                    raise KaspiError(
                        400,
                        "Bad Request",
                        "cancellationReason must be one of " + ", ".join(CANCELLATION_REASONS),
                    )
                self.move(order, wanted, "merchant", cancellationReason=reason)
            elif wanted == "COMPLETED":
                self._complete(order, current, headers)
            else:
                raise KaspiError(400, "Bad Request", f"status {wanted!r} cannot be set")
            return order

    def _complete(self, order: dict[str, Any], current: str, headers: Any) -> None:
        if current != "ACCEPTED_BY_MERCHANT":
            raise KaspiError(400, "Bad Request", f"cannot complete an order in {current}")
        if str(headers.get("X-Send-Code", "")).lower() != "true":
            raise KaspiError(400, "Bad Request", "X-Send-Code: true is required")
        code = order["attributes"]["code"]
        given = headers.get("X-Security-Code", "")
        if not given:
            self.security_codes[code] = f"{secrets.randbelow(10**4):04d}"
            return  # the buyer gets the code in the Kaspi.kz app
        if self.security_codes.get(code) != given:
            raise KaspiError(400, "Bad Request", "wrong security code")
        del self.security_codes[code]
        self.move(order, "COMPLETED", "merchant")

    # -- reading ---------------------------------------------------------------------------------

    def listing(self, args: Any) -> tuple[list[dict[str, Any]], int, int]:
        page, size = _page_params(args)
        code = args.get("filter[orders][code]")
        with self.lock:
            found = list(self.orders.values())
        if code:
            found = [o for o in found if o["attributes"]["code"] == code]
        else:
            low, high = _window(args)
            state = args.get("filter[orders][state]")
            if not state:
                raise KaspiError(400, "Bad Request", "filter[orders][state] is required")
            if state not in STATES:
                raise KaspiError(400, "Bad Request", f"filter[orders][state]: unknown {state}")
            status = args.get("filter[orders][status]")
            found = [
                o
                for o in found
                if low <= o["attributes"]["creationDate"] <= high
                and o["attributes"]["state"] == state
                and (not status or o["attributes"]["status"] == status)
            ]
        found.sort(key=lambda o: (o["attributes"]["creationDate"], o["id"]))
        total = len(found)
        pages = (total + size - 1) // size
        return found[page * size : (page + 1) * size], pages, total


def _page_params(args: Any) -> tuple[int, int]:
    for name in ("page[number]", "page[size]"):
        if args.get(name) in (None, ""):
            raise KaspiError(400, "Bad Request", f"{name} is required")
    try:
        page, size = int(args["page[number]"]), int(args["page[size]"])
    except ValueError:
        raise KaspiError(400, "Bad Request", "page[number] and page[size] are numbers") from None
    if page < 0:
        raise KaspiError(400, "Bad Request", "page[number] starts at 0")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise KaspiError(400, "Bad Request", f"page[size] must be 1..{MAX_PAGE_SIZE}")
    return page, size


def _window(args: Any) -> tuple[int, int]:
    names = ("filter[orders][creationDate][$ge]", "filter[orders][creationDate][$le]")
    values = []
    for name in names:
        raw = args.get(name)
        if raw in (None, ""):
            raise KaspiError(400, "Bad Request", f"{name} is required")
        try:
            values.append(int(raw))
        except ValueError:
            raise KaspiError(400, "Bad Request", f"{name}: epoch milliseconds") from None
    low, high = values
    if high < low:
        raise KaspiError(400, "Bad Request", "creationDate: $le is before $ge")
    if high - low >= MAX_WINDOW_MS:
        raise KaspiError(400, "Bad Request", "creationDate window longer than 14 days")
    return low, high


def _order_resource(base: str, order: dict[str, Any]) -> dict[str, Any]:
    oid = order["id"]
    customer = order["attributes"]["customer"]
    return {
        "type": "orders",
        "id": oid,
        "attributes": deepcopy(order["attributes"]),
        "relationships": {
            "user": {"data": {"type": "customers", "id": customer["id"]}},
            "entries": {"links": {"related": f"{base}/orders/{oid}/entries"}},
        },
        "links": {"self": f"{base}/orders/{oid}"},
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.kaspi")
    app.config["SANDBOX"] = settings
    state = KaspiState(settings)
    app.extensions["kaspi"] = state

    def answer(payload: Any, status: int = 200) -> Response:
        body = json.dumps(payload, ensure_ascii=False)
        return Response(body, status, mimetype="application/vnd.api+json")

    def base() -> str:
        return request.host_url.rstrip("/") + PREFIX

    @app.errorhandler(KaspiError)
    def refused(error: KaspiError) -> Response:
        return answer(error.body(), error.status)

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith(PREFIX + "/"):
            return None
        if request.headers.get("X-Auth-Token") != settings["token"]:
            raise KaspiError(401, "Unauthorized", "X-Auth-Token is missing or wrong")
        return None

    @app.get(f"{PREFIX}/orders")
    def list_orders() -> Response:
        found, pages, total = state.listing(request.args)
        data = [_order_resource(base(), order) for order in found]
        return answer(
            {"data": data, "included": [], "meta": {"pageCount": pages, "totalCount": total}}
        )

    @app.get(f"{PREFIX}/orders/<order_id>")
    def get_order(order_id: str) -> Response:
        return answer({"data": _order_resource(base(), state.get(order_id)), "included": []})

    @app.get(f"{PREFIX}/orders/<order_id>/entries")
    def entries(order_id: str) -> Response:
        order = state.get(order_id)
        data = []
        for entry_id in order["entry_ids"]:
            entry = state.entries[entry_id]
            data.append(
                {
                    "type": "orderentries",
                    "id": entry_id,
                    "attributes": deepcopy(entry["attributes"]),
                    "relationships": {
                        "product": {"data": {"type": "masterproducts", "id": entry["master_id"]}},
                        "deliveryPointOfService": {
                            "data": {"type": "pointofservices", "id": "cG9zMQ"}
                        },
                    },
                }
            )
        return answer({"data": data, "included": []})

    @app.get(f"{PREFIX}/orderentries/<entry_id>/product")
    def entry_product(entry_id: str) -> Response:
        entry = state.entries.get(entry_id)
        if entry is None:
            raise KaspiError(404, "Not Found", f"no order entry {entry_id}")
        master = state.masters[entry["master_id"]]
        attributes = {"code": master["code"], "name": master["name"], "manufacturer": "Sandbox"}
        resource = {"type": "masterproducts", "id": master["id"], "attributes": attributes}
        return answer({"data": resource, "included": []})

    @app.get(f"{PREFIX}/masterproducts/<master_id>/merchantProduct")
    def merchant_product(master_id: str) -> Response:
        master = state.masters.get(master_id)
        if master is None:
            raise KaspiError(404, "Not Found", f"no master product {master_id}")
        attributes = {"code": master["merchant_code"], "name": master["name"]}
        resource = {"type": "merchantproducts", "id": master_id, "attributes": attributes}
        return answer({"data": resource, "included": []})

    def change(order_id: str | None) -> Response:
        body = request.get_json(silent=True)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "orders":
            raise KaspiError(400, "Bad Request", "expected {data: {type: orders, id, attributes}}")
        order_id = order_id or str(data.get("id") or "")
        attributes = data.get("attributes") if isinstance(data.get("attributes"), dict) else {}
        order = state.change(order_id, attributes, request.headers)
        return answer({"data": _order_resource(base(), order), "included": []})

    @app.post(f"{PREFIX}/orders")
    def post_order() -> Response:
        return change(None)

    @app.patch(f"{PREFIX}/orders/<order_id>")
    def patch_order(order_id: str) -> Response:
        return change(order_id)

    # -- control API -----------------------------------------------------------------------------

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        state.reset()
        return answer({"reset": True})

    @app.get("/_sandbox/state")
    def dump() -> Response:
        return answer(state.dump())

    @app.post("/_sandbox/orders")
    def place() -> Response:
        body = request.get_json(silent=True)
        try:
            order = state.place(body if isinstance(body, dict) else {})
        except (TypeError, ValueError, AttributeError) as error:
            raise KaspiError(400, "Bad Request", f"cannot place this order: {error}") from None
        return answer(_order_resource(base(), order), 201)

    @app.post("/_sandbox/orders/<code>/status")
    def kaspi_side(code: str) -> Response:
        body = request.get_json(silent=True) or {}
        status = body.get("status") if isinstance(body, dict) else None
        if status not in STATUSES:
            raise KaspiError(400, "Bad Request", f"status must be one of {', '.join(STATUSES)}")
        with state.lock:
            order = state.by_code(code)
            state.move(order, status, "kaspi")
        return answer(_order_resource(base(), order))

    FaultInjector(app, _fault_body)
    return app


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {"errors": [{"status": str(status), "title": "Internal Server Error"}]}
    return "application/vnd.api+json", json.dumps(body).encode()
