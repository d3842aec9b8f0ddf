"""Customer 360: find a person by phone (any spelling), email, loyalty card or order number; see
their records in every system (with a link to the record where its URL is known), consent,
orders with the deal stage and shipment status, bonus balance and ledger, and the timeline of
events and dead letters that `connector trace` prints."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import Connection, select

from connector.admin.auth import require
from connector.admin.lookup import trace_ids
from connector.config import Settings
from connector.errors import ConnectorError, MappingsUnusable
from connector.loyalty.ledger import history, read_balance
from connector.services import Services
from connector.store import reading
from connector.store.tables import identity_keys, links, loyalty_accounts
from connector.sync.trace import HUB, default_region, phone_e164

bp = Blueprint("customers", __name__, url_prefix="/customers")
NAV = ("nav.customers", "index", "viewer")
MAX_CUSTOMERS = 5
RECENT_TRANSITIONS = 5  # segment transitions shown on a customer's page, newest first
_DIGITS = re.compile(r"\D")


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


@bp.get("/")
@require("viewer")
def index() -> str:
    query = request.args.get("q", "").strip()[:200]
    found = services()
    result: dict[str, Any] | None = None
    problem = None
    if query:
        try:
            result = search(found, query)
        except ConnectorError as error:
            problem = str(error)
    return render_template(
        "admin/customers/index.html", query=query, result=result, problem=problem
    )


def _region(found: Services) -> str:
    try:
        return default_region(found.mappings.current)
    except Exception:  # noqa: BLE001 - unreadable mappings: the default region
        from connector.mapping.phones import DEFAULT_REGION

        return DEFAULT_REGION


def find_customer_ids(found: Services, query: str) -> tuple[str, list[str]]:
    """(how the query was read, the canonical customer ids it names)."""
    with reading(found.engine) as connection:
        if "@" in query:
            return "email", _by_key(connection, "email", query.lower())
        digits = _DIGITS.sub("", query)
        systems = [*found.systems.names(), HUB]
        number = query.strip()
        for how, look in (
            ("card", lambda: _by_card(connection, number)),
            ("order", lambda: _by_order(connection, number, systems)),
            ("customer", lambda: _records(connection, "customer", number, systems)),
        ):
            ids = look()
            if ids:
                return how, ids
        if len(digits) >= 6:
            try:
                e164 = phone_e164(query, _region(found))
            except ConnectorError:
                return "phone", []
            return "phone", _by_key(connection, "phone", e164)
    return "text", []


def _by_key(connection: Connection, kind: str, value: str) -> list[str]:
    found = list(
        connection.scalars(
            select(identity_keys.c.canonical_id).where(
                identity_keys.c.kind == kind, identity_keys.c.value == value
            )
        )
    )
    return list(dict.fromkeys(found))[:MAX_CUSTOMERS]


def _by_card(connection: Connection, card: str) -> list[str]:
    ids = _by_key(connection, "card", card)
    if not ids:
        ids = list(
            connection.scalars(
                select(loyalty_accounts.c.customer_id).where(loyalty_accounts.c.card_number == card)
            )
        )
    return ids


def _by_order(connection: Connection, number: str, systems: list[str]) -> list[str]:
    """An order's number in any system (or its canonical id) -> its customer."""
    order_ids = _records(connection, "order", number, systems)
    if not order_ids:
        return []
    customers = connection.scalars(
        select(links.c.data["customer_id"].as_string()).where(
            links.c.entity == "order",
            links.c.canonical_id.in_(order_ids),
            links.c.system == HUB,
        )
    )
    return list(dict.fromkeys(c for c in customers if c))


def _records(connection: Connection, entity: str, number: str, systems: list[str]) -> list[str]:
    """Canonical ids of the records with this id in a system, or this canonical id; two
    lookups, each served by a unique index of `links`."""
    found = list(
        connection.scalars(
            select(links.c.canonical_id)
            .where(
                links.c.entity == entity,
                links.c.system.in_(systems),
                links.c.external_id == number,
            )
            .limit(MAX_CUSTOMERS)
        )
    )
    found += connection.scalars(
        select(links.c.canonical_id)
        .where(links.c.entity == entity, links.c.canonical_id == number)
        .limit(1)
    )
    return list(dict.fromkeys(found))


def search(found: Services, query: str) -> dict[str, Any]:
    """Everything the page shows of the customers a query names. A phone or email nobody has
    yet still shows the events and dead letters that mention it (an order whose first task
    died before any customer was made)."""
    how, ids = find_customer_ids(found, query)
    people: list[dict[str, Any]] = []
    seen: set[str] = set()
    loose: list[dict[str, Any]] = []
    if how in ("phone", "email") and not ids:
        value = query.lower() if how == "email" else phone_e164(query, _region(found))
        trace = trace_ids(found.engine, found.systems, [], (how, value))
        loose = _timeline(trace.as_dict())
    for cid in ids:
        if cid in seen:
            continue
        seen.add(cid)
        trace = trace_ids(found.engine, found.systems, [cid], None)
        for customer in trace.customers:
            people.append(_person(found, customer, trace.as_dict()))
    return {"how": how, "people": people, "loose": loose}


def _timeline(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Events and dead letters, newest first."""
    return sorted(
        [
            {
                "at": e["received_at"],
                "what": "event",
                "text": f"{e['source']} {e['topic'] or ''}".strip(),
                "task_id": e.get("task_id"),
            }
            for e in trace["events"]
        ]
        + [
            {
                "at": d["finished_at"],
                "what": "dead",
                "text": f"{d['kind']}: {d['last_error'] or ''}",
                "task_id": d["id"],
            }
            for d in trace["dead_letters"]
        ],
        key=lambda item: item["at"] or 0,
        reverse=True,
    )


def _person(found: Services, customer: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    settings = found.settings
    cid = customer["id"]
    for link in customer["links"]:
        link["url"] = record_url(settings, link["system"], "customer", str(link["id"]))
    orders = [o for o in trace["orders"] if o.get("customer_id") == cid]
    with reading(found.engine) as connection:
        for order in orders:
            for link in order["links"]:
                link["url"] = record_url(settings, link["system"], "order", str(link["id"]))
            shipment = connection.execute(
                select(links.c.system, links.c.external_id, links.c.data).where(
                    links.c.entity == "shipment", links.c.canonical_id == order["id"]
                )
            ).first()
            order["shipment"] = (
                {
                    "carrier": shipment.system,
                    "number": shipment.external_id,
                    "state": (shipment.data or {}).get("state")
                    or (shipment.data or {}).get("status"),
                }
                if shipment is not None
                else None
            )
        balance = read_balance(connection, cid)
        ledger = history(connection, cid, limit=50) if balance is not None else []
    timeline = _timeline(trace)
    return {
        **customer,
        "orders": orders,
        "balance": balance,
        "ledger": list(reversed(ledger)),
        "timeline": timeline,
        "analytics": analytics_of(found, cid),
        "cascades": cascades_of(found, cid),
    }


def cascades_of(found: Services, cid: str) -> list[dict[str, Any]]:
    """Her cascade runs with their sends (connector/admin/pages/cascades.py), or none when
    that page is not installed."""
    try:
        from connector.admin.pages.cascades import runs_of_customer
    except ImportError:
        return []
    return runs_of_customer(found, cid)


def analytics_of(found: Services, cid: str) -> dict[str, Any] | None:
    """A customer's figures as `connector analytics show` prints them (the same `public`
    values and `explain` lines), with their latest segment transitions; None without a
    counted order."""
    from connector.analytics.figures import explain, public
    from connector.analytics.keeper import figures_of, transitions_of
    from connector.analytics.rules import rules_for

    row = figures_of(found.engine, cid)
    if row is None or not row.get("orders_count"):
        return None
    shown = public(row)
    try:
        rules = rules_for(found.settings)
    except MappingsUnusable:  # the admin's rules file is invalid: the figures without the why
        why: list[str] = []
        horizon = None
    else:
        why = explain(row, rules, found.queue.clock())
        horizon = rules.horizon_days
    moves = transitions_of(found.engine, cid)[-RECENT_TRANSITIONS:]
    return {
        **shown,
        "revenue": _money(shown["revenue"]),
        "average_check": _money(shown["average_check"]),
        "why": why,
        "horizon_days": horizon,
        "transitions": [{**move, "day": _day(move["at"])} for move in reversed(moves)],
        "segments_page": "admin.segments.index" in current_app.view_functions,
    }


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def _day(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d")


def record_url(settings: Settings, system: str, entity: str, external_id: str) -> str | None:
    """The address of a record in its system's own web interface, where it is known. Only the
    origin of a configured URL is used: the Bitrix24 webhook URL holds a secret in its path."""
    if not external_id.isdigit():
        return None
    if system == "bitrix24":
        base = settings.bitrix24_portal_url or settings.bitrix24_webhook_url
        origin = _origin(base)
        path = {"customer": "contact", "order": "deal"}.get(entity)
        return f"{origin}/crm/{path}/details/{external_id}/" if origin and path else None
    if system == "woocommerce":
        origin = _origin(settings.woocommerce_url)
        if not origin:
            return None
        root = origin + urlsplit(str(settings.woocommerce_url)).path.rstrip("/")
        if entity == "customer":
            return f"{root}/wp-admin/user-edit.php?user_id={external_id}"
        if entity == "order":
            return f"{root}/wp-admin/post.php?post={external_id}&action=edit"
    return None


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


TEXTS = {
    "en": {
        "customers.title": "Customers",
        "customers.search": "Phone, email, card or order number",
        "customers.find": "Find",
        "customers.none": "Nobody found for “{query}”.",
        "customers.read_as": "Read as: {how}",
        "customers.records": "Records in each system",
        "customers.system": "System",
        "customers.id": "Id there",
        "customers.updated": "Updated (UTC)",
        "customers.open": "open",
        "customers.consent": "Consent",
        "customers.orders": "Orders",
        "customers.order": "Order",
        "customers.status": "Status",
        "customers.total": "Total",
        "customers.in_systems": "In each system (stage / status)",
        "customers.shipment": "Shipment",
        "customers.bonus": "Bonus balance",
        "customers.available": "available",
        "customers.pending": "pending",
        "customers.held": "held",
        "customers.card": "card",
        "customers.ledger": "Ledger",
        "customers.entry": "Entry",
        "customers.when": "When (UTC)",
        "customers.no_account": "No bonus account.",
        "customers.timeline": "Timeline (events and dead letters)",
        "customers.empty": "Nothing yet.",
        "customers.keys": "Keys",
        "customers.loose": "Events and dead letters that mention it",
        "customers.analytics": "Analytics",
        "customers.no_figures": "No paid orders yet: no figures.",
        "customers.orders_count": "Orders",
        "customers.revenue": "Revenue (LTV)",
        "customers.average_check": "Average check",
        "customers.first_order": "First order",
        "customers.last_order": "Last order",
        "customers.mean_days": "Mean days between orders",
        "customers.rfm": "R / F / M",
        "customers.segment": "Segment",
        "customers.segment_since": "since {day}",
        "customers.why": "Why",
        "customers.p_alive": "P(alive)",
        "customers.expected": "Expected orders in {days} days",
        "customers.transitions": "Latest segment transitions",
        "customers.from": "From",
        "customers.to": "To",
        "customers.day": "Date",
        "customers.cause": "Cause",
        "customers.all_segments": "All segments",
    },
    "ru": {
        "customers.title": "Клиенты",
        "customers.search": "Телефон, почта, карта или номер заказа",
        "customers.find": "Найти",
        "customers.none": "По запросу «{query}» никого не нашлось.",
        "customers.read_as": "Понято как: {how}",
        "customers.records": "Записи в каждой системе",
        "customers.system": "Система",
        "customers.id": "Id там",
        "customers.updated": "Обновлено (UTC)",
        "customers.open": "открыть",
        "customers.consent": "Согласие",
        "customers.orders": "Заказы",
        "customers.order": "Заказ",
        "customers.status": "Статус",
        "customers.total": "Сумма",
        "customers.in_systems": "В каждой системе (стадия / статус)",
        "customers.shipment": "Доставка",
        "customers.bonus": "Бонусный баланс",
        "customers.available": "доступно",
        "customers.pending": "ожидает",
        "customers.held": "в резерве",
        "customers.card": "карта",
        "customers.ledger": "Операции",
        "customers.entry": "Операция",
        "customers.when": "Когда (UTC)",
        "customers.no_account": "Бонусного счёта нет.",
        "customers.timeline": "Хронология (события и мёртвые письма)",
        "customers.empty": "Пока ничего.",
        "customers.keys": "Ключи",
        "customers.loose": "События и мёртвые письма, где это упоминается",
        "customers.analytics": "Аналитика",
        "customers.no_figures": "Оплаченных заказов пока нет: показателей нет.",
        "customers.orders_count": "Заказов",
        "customers.revenue": "Выручка (LTV)",
        "customers.average_check": "Средний чек",
        "customers.first_order": "Первый заказ",
        "customers.last_order": "Последний заказ",
        "customers.mean_days": "Дней между заказами в среднем",
        "customers.rfm": "R / F / M",
        "customers.segment": "Сегмент",
        "customers.segment_since": "с {day}",
        "customers.why": "Почему",
        "customers.p_alive": "P(активен)",
        "customers.expected": "Ожидается заказов за {days} дн.",
        "customers.transitions": "Последние переходы между сегментами",
        "customers.from": "Из",
        "customers.to": "В",
        "customers.day": "Дата",
        "customers.cause": "Причина",
        "customers.all_segments": "Все сегменты",
    },
}
