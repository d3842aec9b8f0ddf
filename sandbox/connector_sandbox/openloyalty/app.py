"""A minimal, faithful Open Loyalty 3.2 emulator (specs/loyalty/openloyalty/, research §5.1).

Requests are form-encoded with PHP bracket keys (``transfer[customer]=...``) as in the docs' curl
examples; JSON bodies are accepted too. Auth: ``Authorization: Bearer <token>`` with the configured
API token or one from ``POST /api/admin/login_check``, or ``X-AUTH-TOKEN``. Covered: customer
register / search / get / update / status, points transfers add / spend / cancel / list (the
optional ``transfer=<uuid>`` is the client-chosen transfer id, reused ids are refused),
transactions register / get / list / simulate. A ``sell`` transaction of a known member (matched by
email, loyalty card number or phone) earns ``earning_rate`` points per unit of gross value; a
``return`` must name the sell document (``revisedDocument``, else the same ``documentNumber``) and
reverses earned points in proportion to the returned amount as a ``spending`` transfer.
"""

from __future__ import annotations

import json
import secrets
import threading
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from connector_sandbox.common import control_blueprint, form_pairs, new_uuid, parse_php_form
from connector_sandbox.faults import FaultInjector

DEFAULTS: dict[str, Any] = {
    "username": "admin",
    "password": "open",
    "api_token": "sandbox-openloyalty-api-token",
    "earning_rate": 2.3,
    "expire_days": 30,
    # days earned points stay "pending" (locked) before they can be spent; 0 = at once
    "points_days_locked": 0,
    "currency": "eur",
}


class OlError(Exception):
    """A Symfony form refusal: ``{code, message, errors: {children: {field: {errors: [...]}}}}``."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict[str, Any]:
        if self.status == 404:
            return {"error": {"code": 404, "message": self.message}}
        return {
            "code": self.status,
            "message": "Validation Failed",
            "errors": {"children": {self.field: {"errors": [self.message]}}},
        }


def ol_time(moment: datetime | None = None) -> str:
    """Open Loyalty prints ``2018-09-13T16:37:33+0200``."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S%z")


def points(value: Any) -> float:
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


class LoyaltyState:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def now(self) -> datetime:
        """The emulator's clock: real time moved forward by ``advance`` (for expiry and locks)."""
        return datetime.now(UTC) + self.clock_offset

    def advance(self, days: float) -> dict[str, int]:
        """Moves the clock: locked points whose time passed unlock, expired lots expire."""
        self.clock_offset += timedelta(days=days)
        moment, changed = self.now(), {"unlocked": 0, "expired": 0}
        for record in self.transfers.values():
            if record["state"] == "pending" and record.get("_unlocks_at", moment) <= moment:
                record["state"] = "active"
                changed["unlocked"] += 1
            elif (
                record["state"] == "active"
                and record["type"] == "adding"
                and record["_expires_at"] <= moment
            ):
                record["state"] = "expired"
                changed["expired"] += 1
        return changed

    def reset(self) -> None:
        with self.lock:
            self.clock_offset = timedelta(0)
            self.tokens: set[str] = {self.config["api_token"]}
            self.customers: dict[str, dict[str, Any]] = {}
            self.transfers: dict[str, dict[str, Any]] = {}
            self.transactions: dict[str, dict[str, Any]] = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "customers": self.customers,
                    "transfers": {k: _public(t) for k, t in self.transfers.items()},
                    "transactions": self.transactions,
                    "clock": ol_time(self.now()),
                }
            )

    # -- customers ---------------------------------------------------------------------------------

    def customer(self, customer_id: str) -> dict[str, Any]:
        found = self.customers.get(customer_id)
        if found is None:
            raise OlError(404, "customer", "Customer not found")
        return found

    def register(self, data: dict[str, Any]) -> dict[str, Any]:
        for name in ("firstName", "lastName"):
            if not data.get(name):
                raise OlError(400, name, "This value should not be blank.")
        if not data.get("email") and not data.get("phone"):
            raise OlError(400, "email", "Email or phone is required.")
        self._unique(data, None)
        now = ol_time()
        customer = {
            "customerId": new_uuid(),
            "active": True,
            "firstName": data["firstName"],
            "lastName": data["lastName"],
            "gender": data.get("gender", ""),
            "email": data.get("email", ""),
            "phone": data.get("phone", ""),
            "birthDate": data.get("birthDate", ""),
            "address": data.get("address") or {},
            "loyaltyCardNumber": data.get("loyaltyCardNumber", ""),
            "createdAt": now,
            "levelId": "000096cf-32a3-43bd-9034-4df343e5fd93",
            "agreement1": _flag(data.get("agreement1")),
            "agreement2": _flag(data.get("agreement2")),
            "agreement3": _flag(data.get("agreement3")),
            "updatedAt": now,
            "campaignPurchases": [],
            "transactionsCount": 0,
            "transactionsAmount": 0,
            "transactionsAmountWithoutDeliveryCosts": 0,
            "amountExcludedForLevel": 0,
            "averageTransactionAmount": 0,
            "currency": self.config["currency"],
            "levelPercent": "0.00%",
        }
        self.customers[customer["customerId"]] = customer
        return customer

    def update(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        customer = self.customer(customer_id)
        self._unique(data, customer_id)
        for name in ("firstName", "lastName", "gender", "email", "phone", "birthDate",
                     "loyaltyCardNumber", "address"):  # fmt: skip
            if name in data:
                customer[name] = data[name]
        for name in ("agreement1", "agreement2", "agreement3"):
            if name in data:
                customer[name] = _flag(data[name])
        customer["updatedAt"] = ol_time()
        return customer

    def _unique(self, data: dict[str, Any], own_id: str | None) -> None:
        for name, text in (("email", "email"), ("phone", "phone"), ("loyaltyCardNumber", "card")):
            value = data.get(name)
            if value and any(
                c[name] == value and c["customerId"] != own_id for c in self.customers.values()
            ):
                raise OlError(400, name, f"Customer with such {text} already exists.")

    def find(self, args: dict[str, str]) -> list[dict[str, Any]]:
        strict = args.get("strict") in ("1", "true")
        found = list(self.customers.values())
        for name in ("email", "phone", "loyaltyCardNumber", "firstName", "lastName"):
            wanted = args.get(name)
            if not wanted:
                continue
            if strict:
                found = [c for c in found if str(c[name]).lower() == wanted.lower()]
            else:
                found = [c for c in found if wanted.lower() in str(c[name]).lower()]
        return found

    def match(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Identification factors by priority: email, loyalty card number, phone."""
        for name in ("email", "loyaltyCardNumber", "phone"):
            value = data.get(name)
            if value:
                for customer in self.customers.values():
                    if str(customer[name]).lower() == str(value).lower():
                        return customer
        return None

    def status(self, customer_id: str) -> dict[str, Any]:
        customer = self.customer(customer_id)
        mine = [t for t in self.transfers.values() if t["customerId"] == customer_id]
        active = [t for t in mine if t["state"] == "active"]
        earned = sum(Decimal(str(t["value"])) for t in active if t["type"] == "adding")
        used = sum(Decimal(str(t["value"])) for t in active if t["type"] == "spending")
        expired = sum(Decimal(str(t["value"])) for t in mine if t["state"] == "expired")
        locked = sum(Decimal(str(t["value"])) for t in mine if t["state"] == "pending")
        return {
            "firstName": customer["firstName"],
            "lastName": customer["lastName"],
            "customerId": customer_id,
            "points": points(earned - used),
            "p2pPoints": 0,
            "totalEarnedPoints": points(earned),
            "usedPoints": points(used),
            "expiredPoints": points(expired),
            "lockedPoints": points(locked),
            "level": "0.00%",
            "levelName": "Default",
            "transactionsCount": customer["transactionsCount"],
            "transactionsAmount": customer["transactionsAmount"],
            "averageTransactionsAmount": f"{customer['averageTransactionAmount']:.2f}",
            "currency": self.config["currency"],
            "pointsExpiringNextMonth": 0,
        }

    # -- points ------------------------------------------------------------------------------------

    def transfer(
        self,
        kind: str,
        customer_id: str,
        value: Any,
        comment: str = "",
        transfer_id: str | None = None,
        transaction: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        customer = self.customer(customer_id)
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            raise OlError(400, "points", "This value is not valid.") from None
        if amount <= 0:
            raise OlError(400, "points", "This value should be greater than 0.")
        if transfer_id and transfer_id in self.transfers:
            raise OlError(400, "transfer", "Transfer with such id already exists.")
        if kind == "spending" and transaction is None:
            available = Decimal(str(self.status(customer_id)["points"]))
            if amount > available:
                raise OlError(400, "points", "Not enough points.")
        now = self.now()
        locked_days = int(self.config["points_days_locked"])
        record: dict[str, Any] = {
            "pointsTransferId": transfer_id or new_uuid(),
            "accountId": customer_id[::-1][:8] + customer_id[8:],
            "customerId": customer_id,
            "customerFirstName": customer["firstName"],
            "customerLastName": customer["lastName"],
            "customerLoyaltyCardNumber": customer["loyaltyCardNumber"],
            "customerEmail": customer["email"],
            "customerPhone": customer["phone"],
            "createdAt": ol_time(now),
            "value": points(amount),
            "state": "pending" if kind == "adding" and transaction and locked_days else "active",
            "type": kind,
            "comment": comment,
            "issuer": "admin" if transaction is None else "system",
        }
        if kind == "adding":
            expires = now + timedelta(days=int(self.config["expire_days"]) + locked_days)
            record["expiresAt"] = ol_time(expires)
            record["_expires_at"] = expires
            if record["state"] == "pending":
                record["lockedUntil"] = ol_time(now + timedelta(days=locked_days))
                record["_unlocks_at"] = now + timedelta(days=locked_days)
        if transaction is not None:
            record["transactionId"] = {"transactionId": transaction["transactionId"]}
            record["transactionDocumentNumber"] = transaction["documentNumber"]
        self.transfers[record["pointsTransferId"]] = record
        return record

    # -- transactions ------------------------------------------------------------------------------

    def register_transaction(self, data: dict[str, Any]) -> dict[str, Any]:
        header = data.get("transactionData") or {}
        kind = header.get("documentType", "sell")
        number = header.get("documentNumber")
        if kind not in ("sell", "return"):
            raise OlError(400, "documentType", "The value you selected is not a valid choice.")
        if not number:
            raise OlError(400, "documentNumber", "This value should not be blank.")
        items = _items(data.get("items"))
        gross = sum((Decimal(str(i["grossValue"])) for i in items), Decimal(0))
        customer_data = data.get("customerData") or {}
        customer = self.match(customer_data)
        if kind == "sell" and any(
            t["documentNumber"] == number and t["documentType"] == "sell"
            for t in self.transactions.values()
        ):
            raise OlError(400, "documentNumber", "Transaction with such document number exists.")
        original = None
        if kind == "return":
            revised = data.get("revisedDocument") or header.get("revisedDocument") or number
            original = next(
                (
                    t
                    for t in self.transactions.values()
                    if t["documentType"] == "sell" and t["documentNumber"] == revised
                ),
                None,
            )
            if original is None or (customer and original["customerId"] != customer["customerId"]):
                raise OlError(400, "revisedDocument", "Revised document does not exist.")
            customer = self.customers.get(original["customerId"] or "") or customer
        transaction = {
            "grossValue": points(gross),
            "transactionId": new_uuid(),
            "documentNumber": number,
            "purchaseDate": header.get("purchaseDate", ol_time()),
            "purchasePlace": header.get("purchasePlace", ""),
            "documentType": kind,
            "customerId": customer["customerId"] if customer else None,
            "customerData": customer_data,
            "labels": data.get("labels") or [],
            "items": items,
            "currency": self.config["currency"],
            "pointsEarned": 0,
        }
        if original is not None:
            transaction["revisedDocument"] = original["documentNumber"]
        self.transactions[transaction["transactionId"]] = transaction
        if customer is None:
            return transaction
        customer["transactionsCount"] += 1 if kind == "sell" else 0
        sign = Decimal(1) if kind == "sell" else Decimal(-1)
        amount = Decimal(str(customer["transactionsAmount"])) + sign * gross
        customer["transactionsAmount"] = points(amount)
        customer["transactionsAmountWithoutDeliveryCosts"] = points(amount)
        count = max(customer["transactionsCount"], 1)
        customer["averageTransactionAmount"] = points(amount / count)
        customer["lastTransactionDate"] = transaction["purchaseDate"]
        rate = Decimal(str(self.config["earning_rate"]))
        if kind == "sell" and gross > 0:
            earned = gross * rate
            transaction["pointsEarned"] = points(earned)
            self.transfer(
                "adding",
                customer["customerId"],
                earned,
                f"General spending rule - {self.config['earning_rate']}",
                transaction=transaction,
            )
        elif kind == "return" and original is not None and original["grossValue"]:
            share = gross / Decimal(str(original["grossValue"]))
            reversed_points = Decimal(str(original["pointsEarned"])) * share
            if reversed_points > 0:
                self.transfer(
                    "spending",
                    customer["customerId"],
                    reversed_points,
                    f"Return of {original['documentNumber']}",
                    transaction=transaction,
                )
        return transaction

    def simulate(self, data: dict[str, Any]) -> float:
        items = _items(data.get("items"))
        gross = sum((Decimal(str(i["grossValue"])) for i in items), Decimal(0))
        return points(gross * Decimal(str(self.config["earning_rate"])))


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "on", "yes")


def _items(raw: Any) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else list((raw or {}).values())
    clean = []
    for item in items:
        labels = item.get("labels") or []
        labels = labels if isinstance(labels, list) else list(labels.values())
        clean.append(
            {
                "sku": item.get("sku") or {"code": ""},
                "name": item.get("name", ""),
                "quantity": points(item.get("quantity") or 1),
                "grossValue": points(item.get("grossValue") or 0),
                "category": item.get("category", ""),
                "maker": item.get("maker", ""),
                "labels": [lb for lb in labels if isinstance(lb, dict)],
            }
        )
    return clean


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.openloyalty")
    app.config["SANDBOX"] = settings
    state = LoyaltyState(settings)
    app.extensions["openloyalty"] = state

    def answer(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status, mimetype="application/json")

    def form() -> dict[str, Any]:
        if request.is_json:
            return request.get_json(silent=True) or {}
        return parse_php_form(request.get_data())

    def client_id(root: str) -> str | None:
        """The optional client-chosen id sent as a bare ``root=<uuid>`` next to ``root[...]``."""
        if request.is_json:
            value = (request.get_json(silent=True) or {}).get(f"{root}Id")
            return str(value) if value else None
        for key, value in form_pairs(request.get_data()):
            if key == root and value:
                return value
        return None

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith("/api/") or request.path == "/api/admin/login_check":
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or request.headers.get("X-AUTH-TOKEN", "")
        if token not in state.tokens:
            return answer({"code": 401, "message": "Invalid JWT Token"}, 401)
        return None

    @app.post("/api/admin/login_check")
    def login() -> Response:
        data = form()
        if (data.get("_username"), data.get("_password")) != (
            settings["username"],
            settings["password"],
        ):
            return answer({"code": 401, "message": "Bad credentials"}, 401)
        token = secrets.token_urlsafe(32)
        with state.lock:
            state.tokens.add(token)
        return answer({"token": token, "refresh_token": secrets.token_hex(32)})

    @app.post("/api/customer/register")
    def register() -> Response:
        with state.lock:
            customer = state.register(form().get("customer") or {})
            return answer({"customerId": customer["customerId"], "email": customer["email"]})

    @app.get("/api/customer")
    @app.get("/api/admin/customer")
    def customers() -> Response:
        with state.lock:
            found = state.find(request.args.to_dict())
            page = _page(found)
            return answer({"customers": page, "total": len(found)})

    @app.route("/api/customer/<customer_id>", methods=["GET", "PUT"])
    @app.route("/api/admin/customer/<customer_id>", methods=["GET", "PUT"])
    def customer(customer_id: str) -> Response:
        with state.lock:
            if request.method == "PUT":
                state.update(customer_id, form().get("customer") or {})
                return answer({"customerId": customer_id})
            return answer(state.customer(customer_id))

    @app.get("/api/customer/<customer_id>/status")
    @app.get("/api/admin/customer/<customer_id>/status")
    def status(customer_id: str) -> Response:
        with state.lock:
            return answer(state.status(customer_id))

    @app.post("/api/points/transfer/<kind>")
    def transfer(kind: str) -> Response:
        if kind not in ("add", "spend"):
            raise OlError(404, "transfer", "Not found")
        data = form().get("transfer") or {}
        if not isinstance(data, dict) or not data.get("customer"):
            raise OlError(400, "customer", "This value should not be blank.")
        with state.lock:
            record = state.transfer(
                "adding" if kind == "add" else "spending",
                data["customer"],
                data.get("points", 0),
                data.get("comment", ""),
                client_id("transfer"),
            )
            return answer({"pointsTransferId": record["pointsTransferId"]})

    @app.post("/api/points/transfer/<transfer_id>/cancel")
    def cancel(transfer_id: str) -> Response:
        with state.lock:
            record = state.transfers.get(transfer_id)
            if record is None:
                raise OlError(404, "transfer", "Transfer not found")
            if record["type"] != "adding" or record["state"] not in ("active", "pending"):
                raise OlError(400, "transfer", "This transfer cannot be canceled.")
            record["state"] = "canceled"
            return Response(status=204)

    @app.get("/api/points/transfer")
    @app.get("/api/admin/customer/<customer_id>/points/transfer")
    def transfers(customer_id: str | None = None) -> Response:
        args = request.args
        with state.lock:
            found = list(state.transfers.values())
            wanted = customer_id or args.get("customerId")
            if wanted:
                found = [t for t in found if t["customerId"] == wanted]
            for name in ("state", "type"):
                if args.get(name):
                    found = [t for t in found if t[name] == args[name]]
            found.sort(key=lambda t: t["createdAt"], reverse=True)
            return answer({"transfers": [_public(t) for t in _page(found)], "total": len(found)})

    @app.post("/api/transaction")
    def transaction_register() -> Response:
        with state.lock:
            record = state.register_transaction(form().get("transaction") or {})
            return answer({"transactionId": record["transactionId"]})

    @app.post("/api/transaction/simulate")
    def transaction_simulate() -> Response:
        return answer({"points": state.simulate(form().get("transaction") or {})})

    @app.get("/api/transaction")
    def transaction_list() -> Response:
        with state.lock:
            found = list(state.transactions.values())
            for name in ("customerId", "documentNumber", "documentType"):
                if request.args.get(name):
                    found = [t for t in found if t[name] == request.args[name]]
            return answer({"transactions": _page(found), "total": len(found)})

    @app.get("/api/transaction/<transaction_id>")
    def transaction_get(transaction_id: str) -> Response:
        with state.lock:
            record = state.transactions.get(transaction_id)
            if record is None:
                raise OlError(404, "transaction", "Transaction not found")
            return answer(record)

    @app.post("/_sandbox/clock/advance")
    def advance() -> Response:
        """``{"days": 30}``: locked points unlock and old points expire, as the cron jobs would."""
        days = float((request.get_json(silent=True) or {}).get("days", 1))
        with state.lock:
            changed = state.advance(days)
            return answer(changed | {"now": ol_time(state.now())})

    app.register_blueprint(control_blueprint(state), name="sandbox_base")

    @app.errorhandler(OlError)
    def refusal(error: OlError) -> Response:
        return answer(error.body(), error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return answer({"error": {"code": error.code, "message": error.name}}, error.code or 500)

    FaultInjector(app, _fault_body)
    return app


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _page(items: list[Any]) -> list[Any]:
    page = max(int(request.args.get("page", 1)), 1)
    per_page = max(int(request.args.get("perPage", 10)), 1)
    return items[(page - 1) * per_page : page * per_page]


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {"error": {"code": status, "message": "Internal Server Error"}}
    return "application/json", json.dumps(body).encode()
