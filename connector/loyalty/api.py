"""The checkout API the shop and POS call to see and spend bonuses (docs/loyalty-openapi.yaml).

Small and synchronous: look a balance up by card or phone, hold bonuses for an order, then
confirm (spend) or release the hold. Bearer `CONNECTOR_ADMIN_TOKEN`, compared in constant time;
401 without it, 400 naming the field for a bad body, 409 when the balance is too low.
"""

from __future__ import annotations

import hmac
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, overload

from flask import Blueprint, Response, current_app, jsonify, request

from connector.loyalty.ledger import Balance, InsufficientBalance, LoyaltyRefused
from connector.loyalty.lookup import resolve_customer
from connector.loyalty.tasks import provider_for
from connector.safe_input import BadBody, load_json

if TYPE_CHECKING:
    from connector.loyalty.openloyalty import OpenLoyaltyProvider
    from connector.loyalty.provider import LedgerProvider
    from connector.services import Services

blueprint = Blueprint("loyalty", __name__, url_prefix="/api/loyalty")
CENT = Decimal("0.01")
# A billion points: beyond any order, and far inside the ledger's integer hundredths (BIGINT).
MAX_AMOUNT = Decimal(1_000_000_000)


class BadRequest(Exception):
    """A request body or query the API cannot use; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _services() -> Services:
    return current_app.extensions["connector"]


def _provider() -> LedgerProvider | OpenLoyaltyProvider:
    return provider_for(_services())


def _error(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=error, message=message, **extra), status


@blueprint.before_request
def authenticate() -> tuple[Response, int] | None:
    expected = _services().settings.admin_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), str(expected).encode())
    ):
        return _error(401, "unauthorized", "a valid Bearer token is required")
    return None


@blueprint.errorhandler(BadRequest)
def bad_request(error: BadRequest) -> tuple[Response, int]:
    return _error(400, "invalid", f"{error.field}: {error.message}", field=error.field)


@blueprint.errorhandler(InsufficientBalance)
def insufficient(error: InsufficientBalance) -> tuple[Response, int]:
    return _error(409, "insufficient_balance", str(error), available=_points(error.available))


@blueprint.errorhandler(LoyaltyRefused)
def refused(error: LoyaltyRefused) -> tuple[Response, int]:
    status = error.status or 409
    return _error(status, error.code or "refused", error.args[0])


def _points(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _body() -> dict[str, Any]:
    try:
        data = load_json(request.get_data())
    except BadBody as error:
        raise BadRequest("body", str(error).removeprefix("body: ")) from None
    if not isinstance(data, dict):
        raise BadRequest("body", "expected a JSON object")
    return data


@overload
def _amount(data: dict[str, Any], field: str, required: Literal[True] = True) -> Decimal: ...
@overload
def _amount(data: dict[str, Any], field: str, required: bool) -> Decimal | None: ...
def _amount(data: dict[str, Any], field: str, required: bool = True) -> Decimal | None:
    """A positive amount of points or money with at most two decimals, up to `MAX_AMOUNT`."""
    value = data.get(field)
    if value is None:
        if required:
            raise BadRequest(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str) or len(str(value)) > 40:
        raise BadRequest(field, "must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRequest(field, "must be a number") from None
    if not amount.is_finite() or amount <= 0:
        raise BadRequest(field, "must be greater than zero")
    if amount > MAX_AMOUNT:
        raise BadRequest(field, f"must be at most {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise BadRequest(field, "at most two decimals")
    return amount


def _text(data: dict[str, Any], field: str, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise BadRequest(field, "is required")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 200:
        raise BadRequest(field, "must be a string of at most 200 characters")
    return str(value)


def _customer(data: dict[str, Any]) -> str:
    """The customer a request names by `customer_id`, `card`, `phone` or `email`."""
    given = {k: _text(data, k, required=False) for k in ("customer_id", "card", "phone", "email")}
    if not any(given.values()):
        raise BadRequest("card", "one of card, phone, email or customer_id is required")
    try:
        found = resolve_customer(_provider(), _services().settings.mappings_dir, **given)
    except ValueError:
        raise BadRequest("phone", "not a phone number") from None
    if found is None:
        raise LoyaltyRefused("no bonus account for this customer", "not_found", 404)
    return found


def _answer(balance: Balance | None, status: int = 200, **extra: Any) -> tuple[Response, int]:
    if balance is None:
        return _error(404, "not_found", "no bonus account for this customer")
    return jsonify({**balance.as_dict(), **extra}), status


@blueprint.get("/balance")
def balance() -> tuple[Response, int]:
    customer_id = _customer(request.args.to_dict())
    return _answer(_provider().balance(customer_id))


@blueprint.post("/holds")
def hold() -> tuple[Response, int]:
    data = _body()
    order_id = _text(data, "order_id")
    amount = _amount(data, "amount")
    order_total = _amount(data, "order_total", required=False)
    customer_id = _customer(data)
    if _provider().balance(customer_id) is None:
        raise LoyaltyRefused("no bonus account for this customer", "not_found", 404)
    warnings = _stock_check(data)  # the catalogue's stock (connector/catalogue/stock.py)
    result = _provider().hold(customer_id, str(order_id), amount, order_total)
    extra = {"stock_warnings": warnings} if warnings else {}
    return _answer(result, 201, order_id=order_id, hold=str(amount), **extra)


def _stock_check(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Optional `lines: [{sku, quantity}]`: a sold-out line refuses the hold (409 out_of_stock)
    or is only reported, as mappings/catalogue.yaml `checkout_out_of_stock` says."""
    from connector.catalogue.stock import checkout_verdict

    lines = data.get("lines")
    if lines is None:
        return []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise BadRequest("lines", "must be a list of {sku, quantity}")
    for index, line in enumerate(lines):
        try:
            if float(line.get("quantity", 1)) <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise BadRequest(f"lines[{index}].quantity", "must be a positive number") from None
    refuse, warnings = checkout_verdict(_services(), lines)
    if refuse:
        skus = ", ".join(w["sku"] for w in warnings if w["problem"] != "unknown")
        raise LoyaltyRefused(f"out of stock: {skus}", "out_of_stock", 409)
    return warnings


@blueprint.post("/holds/<order_id>/confirm")
def confirm(order_id: str) -> tuple[Response, int]:
    data = _body() if request.get_data() else {}
    amount = _amount(data, "amount", required=False)
    return _answer(_provider().confirm(order_id, amount), order_id=order_id)


@blueprint.post("/holds/<order_id>/release")
def release(order_id: str) -> tuple[Response, int]:
    return _answer(_provider().release(order_id), order_id=order_id)
