"""Accounts (admin only): add, change role, reset password, remove; each change audited."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from werkzeug import Response

from connector.admin import notice
from connector.admin.auth import ROLES, AccountError, accounts, audit, current, require

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
NAV = ("nav.accounts", "index", "admin")


@bp.get("/")
@require("admin")
def index(problem: str | None = None, code: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/accounts/index.html", rows=accounts().all(), roles=ROLES, problem=problem
    ), code


@bp.post("/add")
@require("admin")
def add() -> Response | tuple[str, int]:
    name = request.form.get("name", "")
    role = request.form.get("role", "")
    try:
        account = accounts().add(name, role, request.form.get("password", ""))
    except AccountError as error:
        return index(str(error), 400)
    audit("account-add", account.name, {"role": account.role})
    return notice("admin.accounts.index", "accounts.added")


@bp.post("/role")
@require("admin")
def role() -> Response | tuple[str, int]:
    name = request.form.get("name", "")
    wanted = request.form.get("role", "")
    me = current()
    if me is not None and name == me.name and wanted != "admin":
        return index("you cannot take the admin role from yourself", 400)
    try:
        account = accounts().set_role(name, wanted)
    except AccountError as error:
        return index(str(error), 400)
    audit("account-role", account.name, {"role": account.role})
    return notice("admin.accounts.index", "accounts.changed")


@bp.post("/password")
@require("admin")
def password() -> Response | tuple[str, int]:
    name = request.form.get("name", "")
    try:
        accounts().set_password(name, request.form.get("password", ""))
    except AccountError as error:
        return index(str(error), 400)
    audit("account-password", name)
    return notice("admin.accounts.index", "accounts.changed")


@bp.post("/remove")
@require("admin")
def remove() -> Response | tuple[str, int]:
    name = request.form.get("name", "")
    me = current()
    if me is not None and name == me.name:
        return index("you cannot remove yourself", 400)
    try:
        accounts().remove(name)
    except AccountError as error:
        return index(str(error), 400)
    audit("account-remove", name)
    return notice("admin.accounts.index", "accounts.removed")


TEXTS = {
    "en": {
        "accounts.title": "Accounts",
        "accounts.name": "Name",
        "accounts.role": "Role",
        "accounts.created": "Created (UTC)",
        "accounts.password": "New password (8 characters or more)",
        "accounts.add": "Add account",
        "accounts.save_role": "Change role",
        "accounts.set_password": "Set password",
        "accounts.remove": "Remove",
        "accounts.added": "Account added.",
        "accounts.changed": "Account changed.",
        "accounts.removed": "Account removed.",
        "accounts.roles_help": "A viewer reads; an operator also replays, discards, re-syncs and "
        "adjusts bonuses; an admin also saves mappings and manages accounts.",
    },
    "ru": {
        "accounts.title": "Учётные записи",
        "accounts.name": "Имя",
        "accounts.role": "Роль",
        "accounts.created": "Создана (UTC)",
        "accounts.password": "Новый пароль (не короче 8 символов)",
        "accounts.add": "Добавить",
        "accounts.save_role": "Сменить роль",
        "accounts.set_password": "Задать пароль",
        "accounts.remove": "Удалить",
        "accounts.added": "Учётная запись добавлена.",
        "accounts.changed": "Учётная запись изменена.",
        "accounts.removed": "Учётная запись удалена.",
        "accounts.roles_help": "Наблюдатель читает; оператор также повторяет и отбрасывает "
        "письма, запускает синхронизацию и правит бонусы; администратор также сохраняет "
        "сопоставления и управляет учётными записями.",
    },
}
