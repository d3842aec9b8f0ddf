"""The audit trail: every action an account took in the console (and `connector admin`)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from connector.admin import as_id
from connector.admin.auth import require
from connector.services import Services
from connector.store import reading
from connector.store.tables import admin_actions

bp = Blueprint("audit", __name__, url_prefix="/audit")
NAV = ("nav.audit", "index", "viewer")
PAGE_SIZE = 100


@bp.get("/")
@require("viewer")
def index() -> str:
    found: Services = current_app.extensions["connector"]
    account = request.args.get("account", "").strip()[:100]
    action = request.args.get("action", "").strip()[:60]
    before = as_id(request.args.get("before"))
    where = []
    if account:
        where.append(admin_actions.c.account == account)
    if action:
        where.append(admin_actions.c.action == action)
    if before is not None:
        where.append(admin_actions.c.id < before)
    with reading(found.engine) as connection:
        rows = [
            dict(r)
            for r in connection.execute(
                select(admin_actions)
                .where(*where)
                .order_by(admin_actions.c.id.desc())
                .limit(PAGE_SIZE + 1)
            ).mappings()
        ]
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "admin/audit/index.html",
        rows=rows,
        account_filter=account,
        action_filter=action,
        next_before=rows[-1]["id"] if more else None,
    )


TEXTS = {
    "en": {
        "audit.title": "Audit trail",
        "audit.when": "When (UTC)",
        "audit.account": "Account",
        "audit.action": "Action",
        "audit.target": "Target",
        "audit.detail": "Detail",
        "audit.address": "Address",
        "audit.filter": "Filter",
        "audit.older": "Older entries",
        "audit.empty": "Nothing recorded yet.",
    },
    "ru": {
        "audit.title": "Журнал действий",
        "audit.when": "Когда (UTC)",
        "audit.account": "Учётная запись",
        "audit.action": "Действие",
        "audit.target": "Над чем",
        "audit.detail": "Подробности",
        "audit.address": "Адрес",
        "audit.filter": "Показать",
        "audit.older": "Более старые",
        "audit.empty": "Пока ничего не записано.",
    },
}
