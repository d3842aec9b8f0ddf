"""Mappings: every file with its validation result, the editor, versions, diff, revert, try.

Reading and trying are for every role; saving and reverting for admins. A save is refused, with
each problem at its file and line, unless the whole set validates with the new text
(`connector/mapping/versions.py`); a saved file is written to the folder, so this process and the
worker pick it up as they pick up any edit (`ReloadingMappings`), and the version is kept in the
store with the account's name. Every save and revert is a line of the console's trail, written
in the same transaction as the version.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import Connection
from werkzeug.wrappers import Response

from connector.admin import notice
from connector.admin.auth import audit, current, require
from connector.errors import ConnectorError, MappingError
from connector.mapping.errors import format_error
from connector.mapping.trial import BadPayload, dump, try_payload
from connector.mapping.versions import (
    FOUND,
    FolderNotWritable,
    MappingFiles,
    MappingRefused,
    StaleEdit,
    UnknownMappingFile,
    Version,
    diff,
    text_hash,
)
from connector.services import Services

bp = Blueprint("mappings", __name__, url_prefix="/mappings")
NAV = ("nav.mappings", "index", "viewer")
bp.add_app_template_filter(dump, "tojson_pretty")
MAX_TEXT = 512 * 1024  # a mapping file or a pasted payload; larger is refused (413 for a form)


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def files() -> MappingFiles:
    found = services()
    return MappingFiles(found.mappings_path, found.engine, found.queue.clock)


def _problems() -> list[MappingError]:
    """The problems of the files on disk as the running service sees them (reloaded first,
    when a file changed)."""
    mappings = services().mappings
    mappings.reload_if_changed()
    return list(mappings.problems)


@bp.get("/")
@require("viewer")
def index() -> str:
    problems = _problems()
    folder = files()
    return render_template(
        "admin/mappings/index.html",
        states=folder.states(problems),
        unplaced=[format_error(p) for p in folder.unplaced(problems)],
        health=services().mappings.health(),
        folder=str(folder.directory),
    )


# -- one file -----------------------------------------------------------------------------------


def _numbered(text: str, problems: list[MappingError], path: str) -> list[dict[str, Any]]:
    """The text's lines, each with the problems of this file at that line."""
    at: dict[int, list[str]] = {}
    for problem in problems:
        if problem.file == path and problem.line:
            at.setdefault(problem.line, []).append(_message(problem))
    lines = text.split("\n")
    return [
        {"number": n, "text": line, "problems": at.get(n, [])} for n, line in enumerate(lines, 1)
    ]


def _message(problem: MappingError) -> str:
    message = str(problem.args[0]) if problem.args else ""
    return (
        f"{problem.field}: {message}" if problem.field and problem.field not in message else message
    )


def _editor(
    path: str,
    text: str,
    problems: list[MappingError],
    base_hash: str,
    status: int = 200,
    error: str | None = None,
) -> tuple[str, int]:
    folder = files()
    return (
        render_template(
            "admin/mappings/edit.html",
            path=path,
            text=text,
            base_hash=base_hash,
            problems=[
                {
                    "where": f"{p.file}:{p.line}" if p.line else (p.file or ""),
                    "line": p.line if p.file == path else None,
                    "text": format_error(p),
                }
                for p in problems
            ],  # fmt: skip
            lines=_numbered(text, problems, path),
            versions=folder.versions(path)[:5],
            may_save=_may("admin"),
            error=error,
        ),
        status,
    )


def _may(role: str) -> bool:
    account = current()
    return account is not None and account.may(role)


@bp.get("/file/<path:path>")
@require("viewer")
def edit(path: str) -> tuple[str, int]:
    folder = files()
    text = _read(folder, path)
    mine = [p for p in (folder.relative(e) for e in _problems()) if p.file == path]
    return _editor(path, text, mine, text_hash(text))


@bp.post("/file/<path:path>")
@require("admin")
def save(path: str) -> Response | tuple[str, int]:
    folder = files()
    _read(folder, path)  # a 404 for a file that is not there
    text = request.form.get("text", "")
    base_hash = request.form.get("base_hash", "")
    if len(text) > MAX_TEXT:
        return _editor(path, text[:MAX_TEXT], [], base_hash, 413, "mappings.too_large")
    try:
        version = folder.save(path, text, _name(), base_hash or None, _audited("mapping.save"))
    except MappingRefused as refused:
        return _editor(path, text, refused.problems, base_hash, 400)
    except StaleEdit:
        return _editor(path, text, [], base_hash, 409, "mappings.stale")
    except FolderNotWritable:
        return _editor(path, text, [], base_hash, 503, "mappings.not_writable")
    services().mappings.reload_if_changed()  # this process at once; the worker within seconds
    return notice("admin.mappings.versions", "mappings.saved", path=version.path)


def _audited(action: str) -> Any:
    def record(connection: Connection, version: Version) -> None:
        detail = {"version": version.id, "sha256": version.content_hash}
        if version.reverts_to is not None:
            detail["reverts_to"] = version.reverts_to
        audit(action, version.path, detail, connection=connection)

    return record


def _name() -> str:
    account = current()
    assert account is not None  # `require` let the view run
    return account.name


def _id(value: int | None) -> int | None:
    """A version id from the URL; one no store could hold is not found (not a 500)."""
    if value is not None and not 0 < value < 2**62:
        abort(404)
    return value


def _read(folder: MappingFiles, path: str) -> str:
    try:
        return folder.read(path)
    except UnknownMappingFile:
        abort(404)


# -- versions, diff, revert ---------------------------------------------------------------------


@bp.get("/versions/<path:path>")
@require("viewer")
def versions(path: str) -> str:
    folder = files()
    _read(folder, path)
    found = folder.versions(path)
    changes = []
    for index, version in enumerate(found):
        older = found[index + 1] if index + 1 < len(found) else None
        changes.append(
            {
                "version": version,
                "diff": diff(older.content, version.content, f"#{older.id}", f"#{version.id}")
                if older
                else [],
            }
        )
    return render_template(
        "admin/mappings/versions.html",
        path=path,
        changes=changes,
        newest=found[0].id if found else None,
        may_save=_may("admin"),
        found=FOUND,
    )


@bp.get("/version/<int:version_id>")
@require("viewer")
def version(version_id: int) -> str:
    folder = files()
    _id(version_id)
    try:
        shown = folder.version(version_id)
    except UnknownMappingFile:
        abort(404)
    against = _id(request.args.get("against", type=int))
    try:
        other = folder.version(against) if against else folder.previous(shown)
    except UnknownMappingFile:
        abort(404)
    if other is not None and other.path != shown.path:
        abort(404)
    return render_template(
        "admin/mappings/version.html",
        shown=shown,
        other=other,
        lines=diff(
            other.content if other else "",
            shown.content,
            f"#{other.id}" if other else "-",
            f"#{shown.id}",
        ),
        may_save=_may("admin"),
    )


@bp.post("/version/<int:version_id>/revert")
@require("admin")
def revert(version_id: int) -> Response | tuple[str, int]:
    folder = files()
    _id(version_id)
    try:
        old = folder.version(version_id)
    except UnknownMappingFile:
        abort(404)
    try:
        folder.revert(version_id, _name(), _audited("mapping.revert"))
    except MappingRefused as refused:  # the other files changed since: it no longer fits
        current_text = folder.read(old.path)
        return _editor(old.path, old.content, refused.problems, text_hash(current_text), 400)
    except FolderNotWritable:
        current_text = folder.read(old.path)
        return _editor(old.path, old.content, [], text_hash(current_text), 503,
                       "mappings.not_writable")  # fmt: skip
    services().mappings.reload_if_changed()
    return notice("admin.mappings.versions", "mappings.reverted", path=old.path)


# -- try ----------------------------------------------------------------------------------------


@bp.route("/try", methods=["GET", "POST"])
@require("viewer")
def trial() -> tuple[str, int]:
    """A payload mapped in, then out to every other system: a dry run that writes nothing."""
    mappings = services().mappings.current
    choices = [f"{m.system}/{m.entity}" for m in mappings.mappings()]
    chosen = request.values.get("mapping", "woocommerce/order")
    payload = request.form.get("payload", "")
    as_csv = bool(request.form.get("csv"))
    result, error, status = None, None, 200
    if request.method == "POST":
        if chosen not in choices:
            error, status = f"mapping: unknown {chosen!r}", 400
        elif len(payload) > MAX_TEXT:
            error, status = "payload: too large", 413
        else:
            system, entity = chosen.split("/", 1)
            try:
                result = try_payload(mappings, system, entity, payload, csv=as_csv)
            except BadPayload as bad:
                error, status = str(bad), 400
            except ConnectorError as failed:
                error, status = str(failed), 400
    return (
        render_template(
            "admin/mappings/try.html",
            choices=choices,
            chosen=chosen,
            payload=payload,
            as_csv=as_csv,
            result=result,
            error=error,
        ),
        status,
    )


TEXTS = {
    "en": {
        "nav.mappings": "Mappings",
        "mappings.title": "Mappings",
        "mappings.folder": "Folder",
        "mappings.state": "State in force",
        "mappings.state.ok": "all files valid",
        "mappings.state.degraded": "files invalid: running on the last good set",
        "mappings.state.unusable": "files invalid and no good set: tasks wait",
        "mappings.file": "File",
        "mappings.check": "Validation",
        "mappings.valid": "valid",
        "mappings.problems": "{count} problem(s)",
        "mappings.versions": "Versions",
        "mappings.last_saved": "Last saved",
        "mappings.changed_outside": "changed on disk since its last version",
        "mappings.other_problems": "Problems of the set",
        "mappings.try": "Try a payload",
        "mappings.edit": "Edit",
        "mappings.view": "View",
        "mappings.save": "Validate and save",
        "mappings.read_only": "Only an admin can save; you can read and try.",
        "mappings.refused": "Not saved: the set does not validate with this text.",
        "mappings.at_line": "line {line}",
        "mappings.stale": "Not saved: the file changed since you opened it. Open it again and "
        "redo your edit.",
        "mappings.not_writable": "Not saved: the mappings folder cannot be written.",
        "mappings.too_large": "Not saved: the text is too large.",
        "mappings.saved": "Saved: the new version is in force.",
        "mappings.reverted": "Reverted: the chosen version is in force again.",
        "mappings.history": "Versions of {path}",
        "mappings.no_versions": "No version saved from the console yet.",
        "mappings.version": "Version",
        "mappings.by": "By",
        "mappings.when": "When",
        "mappings.action": "What",
        "mappings.action.save": "saved",
        "mappings.action.revert": "reverted to #{id}",
        "mappings.action.found": "found on disk",
        "mappings.diff": "Changes",
        "mappings.show": "Show",
        "mappings.revert": "Revert to this version",
        "mappings.in_force": "in force",
        "mappings.compare": "Compared with #{id}",
        "mappings.first": "The first version of the file.",
        "mappings.text": "Text",
        "mappings.try.mapping": "Mapping of the payload",
        "mappings.try.payload": "Payload (JSON; CSV rows for pos)",
        "mappings.try.csv": "CSV rows",
        "mappings.try.submit": "Try (writes nothing)",
        "mappings.try.canonical": "Canonical {name}",
        "mappings.try.for": "What each system would receive (as a create)",
        "mappings.try.none": "No other system writes this entity.",
        "mappings.try.error": "Could not map",
        "mappings.git": "Saving writes the file in the folder (commit it in git as usual); "
        "the versions are kept in the connector's store.",
    },
    "ru": {
        "nav.mappings": "Маппинги",
        "mappings.title": "Маппинги",
        "mappings.folder": "Папка",
        "mappings.state": "Состояние",
        "mappings.state.ok": "все файлы корректны",
        "mappings.state.degraded": "файлы с ошибками: работает последний корректный набор",
        "mappings.state.unusable": "файлы с ошибками и нет корректного набора: задачи ждут",
        "mappings.file": "Файл",
        "mappings.check": "Проверка",
        "mappings.valid": "без ошибок",
        "mappings.problems": "ошибок: {count}",
        "mappings.versions": "Версии",
        "mappings.last_saved": "Сохранён",
        "mappings.changed_outside": "изменён на диске после последней версии",
        "mappings.other_problems": "Ошибки набора",
        "mappings.try": "Проверить данные",
        "mappings.edit": "Править",
        "mappings.view": "Открыть",
        "mappings.save": "Проверить и сохранить",
        "mappings.read_only": "Сохранять может только администратор; вы можете читать и проверять.",
        "mappings.refused": "Не сохранено: набор с этим текстом не проходит проверку.",
        "mappings.at_line": "строка {line}",
        "mappings.stale": "Не сохранено: файл изменился после того, как вы его открыли. "
        "Откройте его снова и повторите правку.",
        "mappings.not_writable": "Не сохранено: папка маппингов недоступна для записи.",
        "mappings.too_large": "Не сохранено: текст слишком большой.",
        "mappings.saved": "Сохранено: новая версия действует.",
        "mappings.reverted": "Откат выполнен: выбранная версия снова действует.",
        "mappings.history": "Версии {path}",
        "mappings.no_versions": "Из консоли версий ещё не сохраняли.",
        "mappings.version": "Версия",
        "mappings.by": "Кто",
        "mappings.when": "Когда",
        "mappings.action": "Что",
        "mappings.action.save": "сохранена",
        "mappings.action.revert": "откат к #{id}",
        "mappings.action.found": "найдена на диске",
        "mappings.diff": "Изменения",
        "mappings.show": "Открыть",
        "mappings.revert": "Откатить к этой версии",
        "mappings.in_force": "действует",
        "mappings.compare": "Сравнение с #{id}",
        "mappings.first": "Первая версия файла.",
        "mappings.text": "Текст",
        "mappings.try.mapping": "Маппинг данных",
        "mappings.try.payload": "Данные (JSON; строки CSV для pos)",
        "mappings.try.csv": "Строки CSV",
        "mappings.try.submit": "Проверить (ничего не записывает)",
        "mappings.try.canonical": "Каноническая сущность {name}",
        "mappings.try.for": "Что получит каждая система (при создании)",
        "mappings.try.none": "Другие системы эту сущность не записывают.",
        "mappings.try.error": "Не удалось преобразовать",
        "mappings.git": "Сохранение записывает файл в папку (закоммитьте его в git как обычно); "
        "версии хранятся в базе коннектора.",
    },
}
