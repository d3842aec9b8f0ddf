"""Loyalty: a customer's balance and history, a manual adjustment with its reason, the rules.

Finding a customer takes a card number, a phone (any spelling), an e-mail or the connector's
customer id. An adjustment (operator and above) goes through the ledger (`adjust`): its
idempotency key comes from a one-time number in the form, so a form sent twice (a double click,
a reload) posts once; the audit line is written in the ledger's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import Connection
from werkzeug.wrappers import Response

from connector.admin import notice
from connector.admin.auth import audit, current, require
from connector.errors import ConnectorError, MappingsUnusable
from connector.loyalty.ledger import InsufficientBalance
from connector.services import Services

bp = Blueprint("loyalty", __name__, url_prefix="/loyalty")
NAV = ("nav.loyalty", "index", "viewer")
HISTORY = 200
MAX_AMOUNT = Decimal("1000000")
REASON_MAX = 500


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def _provider() -> Any:
    from connector.loyalty.tasks import provider_for

    return provider_for(services())


def _rules() -> tuple[list[tuple[str, Any]], str | None]:
    from connector.loyalty.rules import rules_for, rules_path

    try:
        rules = rules_for(services().settings)
    except MappingsUnusable as error:
        return [], str(error)
    shown = [(f.name, getattr(rules, f.name)) for f in fields(rules)]
    return [("file", rules_path(services().settings.mappings_dir)), *shown], None


def find(query: str) -> str | None:
    """The customer a card, phone, e-mail or customer id names, or None."""
    from connector.loyalty.lookup import resolve_customer

    query = query.strip()
    if not query:
        return None
    provider = _provider()
    settings = services().settings
    if "@" in query:
        return resolve_customer(provider, settings.mappings_dir, email=query.lower())
    found = resolve_customer(provider, settings.mappings_dir, card=query)
    if found is None and any(c.isdigit() for c in query):
        try:
            found = resolve_customer(provider, settings.mappings_dir, phone=query)
        except ValueError:
            found = None
    if found is None and provider.balance(query) is not None:
        found = query  # a customer id with a bonus account
    return found


@bp.get("/")
@require("viewer")
def index() -> Response | tuple[str, int]:
    query = request.args.get("q", "").strip()
    if query:
        found = find(query)
        if found is not None:
            return redirect(url_for("admin.loyalty.customer", customer_id=found), 303)
    rules, rules_error = _rules()
    return (
        render_template(
            "admin/loyalty/index.html",
            query=query,
            not_found=bool(query),
            rules=rules,
            rules_error=rules_error,
        ),
        404 if query else 200,
    )


def _balance(provider: Any, customer_id: str) -> tuple[Any, bool]:
    """The provider's balance; the ledger's own when a remote provider (Open Loyalty) does not
    answer, with True to say so."""
    try:
        return provider.balance(customer_id), False
    except ConnectorError:
        return getattr(provider, "ledger", provider).balance(customer_id), True


def _page(customer_id: str, status: int = 200, error: str | None = None, **form: Any) -> Any:
    provider = _provider()
    balance, local_only = _balance(provider, customer_id)
    entries = provider.history(customer_id, HISTORY) if balance is not None else []
    if balance is None:
        abort(404)
    rules, rules_error = _rules()
    account = current()
    return (
        render_template(
            "admin/loyalty/customer.html",
            customer_id=customer_id,
            balance=balance,
            local_only=local_only,
            entries=list(reversed(entries)),
            may_adjust=account is not None and account.may("operator"),
            nonce=secrets.token_urlsafe(16),
            error=error,
            form=form,
            rules=rules,
            rules_error=rules_error,
        ),
        status,
    )


@bp.get("/customer/<customer_id>")
@require("viewer")
def customer(customer_id: str) -> Any:
    return _page(customer_id)


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value == 0 or abs(value) > MAX_AMOUNT:
        return None
    if value != value.quantize(Decimal("0.01")):
        return None
    return value


@bp.post("/customer/<customer_id>/adjust")
@require("operator")
def adjust(customer_id: str) -> Any:
    provider = _provider()
    if _balance(provider, customer_id)[0] is None:
        abort(404)
    amount_text = request.form.get("amount", "")
    reason = request.form.get("reason", "").strip()
    nonce = request.form.get("nonce", "")
    form = {"amount": amount_text, "reason": reason}
    amount = _amount(amount_text)
    if amount is None:
        return _page(customer_id, 400, "loyalty.bad_amount", **form)
    if not reason:
        return _page(customer_id, 400, "loyalty.reason_required", **form)
    if len(reason) > REASON_MAX or not nonce or len(nonce) > 64:
        return _page(customer_id, 400, "loyalty.bad_form", **form)
    account = current()
    assert account is not None

    def record(connection: Connection) -> None:
        detail = {"amount": str(amount), "reason": reason}
        audit("loyalty.adjust", customer_id, detail, connection=connection)

    try:
        posted = provider.adjust(customer_id, nonce, amount, reason, account.name, record)
    except InsufficientBalance:
        return _page(customer_id, 400, "loyalty.insufficient", **form)
    except ConnectorError:
        return _page(customer_id, 502, "loyalty.failed", **form)
    key = "loyalty.adjusted" if posted else "loyalty.already"
    return notice("admin.loyalty.customer", key, customer_id=customer_id)


TEXTS = {
    "en": {
        "nav.loyalty": "Loyalty",
        "loyalty.title": "Loyalty",
        "loyalty.find": "Card, phone, e-mail or customer id",
        "loyalty.search": "Find",
        "loyalty.not_found": "No bonus account found for this.",
        "loyalty.rules": "Rules in force",
        "loyalty.rules_invalid": "The rules file is invalid",
        "loyalty.customer": "Customer {id}",
        "loyalty.card": "Card",
        "loyalty.tier": "Tier",
        "loyalty.available": "Available",
        "loyalty.pending": "Pending",
        "loyalty.held": "Held",
        "loyalty.history": "History (newest first)",
        "loyalty.when": "When",
        "loyalty.kind": "Entry",
        "loyalty.order": "Order",
        "loyalty.expires": "Expires",
        "loyalty.detail": "Reason / detail",
        "loyalty.no_history": "No entries yet.",
        "loyalty.adjust": "Manual adjustment",
        "loyalty.amount": "Amount (negative takes bonuses away)",
        "loyalty.reason": "Reason (required, kept in the history and the audit trail)",
        "loyalty.submit": "Adjust",
        "loyalty.adjusted": "Adjusted: the entry is in the history.",
        "loyalty.already": "This adjustment was made already; nothing was posted twice.",
        "loyalty.bad_amount": "Amount: a non-zero number with at most two decimals is needed.",
        "loyalty.reason_required": "Reason: required; say why the balance changes.",
        "loyalty.bad_form": "The form is incomplete or too long; reload the page.",
        "loyalty.insufficient": "Not adjusted: the customer has fewer available bonuses.",
        "loyalty.failed": "Not adjusted: the loyalty system refused or did not answer.",
        "loyalty.no_account": "No bonus account.",
        "loyalty.local_only": "The loyalty system did not answer: the balance shown is the "
        "connector's own ledger.",
    },
    "ru": {
        "nav.loyalty": "Бонусы",
        "loyalty.title": "Бонусная программа",
        "loyalty.find": "Карта, телефон, e-mail или id клиента",
        "loyalty.search": "Найти",
        "loyalty.not_found": "Бонусный счёт не найден.",
        "loyalty.rules": "Действующие правила",
        "loyalty.rules_invalid": "Файл правил с ошибками",
        "loyalty.customer": "Клиент {id}",
        "loyalty.card": "Карта",
        "loyalty.tier": "Уровень",
        "loyalty.available": "Доступно",
        "loyalty.pending": "Ожидает",
        "loyalty.held": "Зарезервировано",
        "loyalty.history": "История (сначала новые)",
        "loyalty.when": "Когда",
        "loyalty.kind": "Операция",
        "loyalty.order": "Заказ",
        "loyalty.expires": "Сгорает",
        "loyalty.detail": "Причина / подробности",
        "loyalty.no_history": "Операций пока нет.",
        "loyalty.adjust": "Ручная корректировка",
        "loyalty.amount": "Сумма (отрицательная списывает бонусы)",
        "loyalty.reason": "Причина (обязательно; сохраняется в истории и журнале действий)",
        "loyalty.submit": "Скорректировать",
        "loyalty.adjusted": "Готово: операция в истории.",
        "loyalty.already": "Эта корректировка уже сделана; повторно ничего не записано.",
        "loyalty.bad_amount": "Сумма: нужно ненулевое число, не больше двух знаков после запятой.",
        "loyalty.reason_required": "Причина: обязательна; укажите, почему меняется баланс.",
        "loyalty.bad_form": "Форма неполная или слишком длинная; обновите страницу.",
        "loyalty.insufficient": "Не выполнено: у клиента меньше доступных бонусов.",
        "loyalty.failed": "Не выполнено: бонусная система отказала или не ответила.",
        "loyalty.no_account": "Бонусного счёта нет.",
        "loyalty.local_only": "Бонусная система не ответила: показан баланс по журналу коннектора.",
    },
}
