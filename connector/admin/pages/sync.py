"""Sync: poll now or run a full sync of a system (operator), with the progress of each job.

Starting only records the job and enqueues its tasks (`connector/sync/progress.py`): the worker
reads the system, never the web request. Each stream's task updates its progress row after every
page it commits; this page reads those rows and refreshes itself (a meta refresh, so it works
without JavaScript) until the job has finished.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import Connection
from werkzeug.wrappers import Response

from connector.admin.auth import audit, current, require
from connector.services import Services
from connector.sync.progress import (
    FULL,
    POLL,
    CannotSync,
    job_view,
    recent_jobs,
    start_job,
    syncable,
)

bp = Blueprint("sync", __name__, url_prefix="/sync")
NAV = ("nav.sync", "index", "viewer")
REFRESH_SECONDS = 2


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def _index(status: int = 200, error: str | None = None) -> tuple[str, int]:
    found = services()
    jobs = recent_jobs(found.engine)
    account = current()
    return (
        render_template(
            "admin/sync/index.html",
            systems=syncable(found),
            jobs=jobs,
            may_start=account is not None and account.may("operator"),
            refresh=REFRESH_SECONDS if any(not job.finished for job in jobs) else None,
            error=error,
        ),
        status,
    )


@bp.get("/")
@require("viewer")
def index() -> tuple[str, int]:
    return _index()


@bp.post("/start")
@require("operator")
def start() -> Response | tuple[str, int]:
    system = request.form.get("system", "")
    kind = request.form.get("kind", "")
    restart = request.form.get("restart") == "1"
    if kind not in (POLL, FULL):
        return _index(400, f"kind: {kind!r} is not poll or full")
    account = current()
    assert account is not None

    def record(connection: Connection, job_id: int) -> None:
        detail: dict[str, Any] = {"job": job_id}
        if restart and kind == FULL:
            detail["restart"] = True
        audit(f"sync.{kind}", system, detail, connection=connection)

    try:
        job_id = start_job(services(), system, kind, account.name, restart, record)
    except CannotSync as error:
        return _index(409 if "has not finished" in str(error) else 400, str(error))
    return redirect(url_for("admin.sync.job", job_id=job_id), 303)


@bp.get("/job/<int:job_id>")
@require("viewer")
def job(job_id: int) -> str:
    if not 0 < job_id < 2**62:  # no store holds such an id: not found, not a 500
        abort(404)
    found = job_view(services().engine, job_id)
    if found is None:
        abort(404)
    return render_template(
        "admin/sync/job.html",
        job=found,
        refresh=None if found.finished else REFRESH_SECONDS,
    )


TEXTS = {
    "en": {
        "nav.sync": "Sync",
        "sync.title": "Sync",
        "sync.system": "System",
        "sync.poll": "Poll now",
        "sync.full": "Full sync",
        "sync.restart": "start over",
        "sync.none": "No configured system can be polled or synced.",
        "sync.jobs": "Recent jobs",
        "sync.no_jobs": "No job started from the console yet.",
        "sync.job": "Job #{id}: {kind} of {system}",
        "sync.kind.poll": "poll",
        "sync.kind.full": "full sync",
        "sync.by": "started by {name} at {when}",
        "sync.state": "State",
        "sync.state.queued": "queued",
        "sync.state.running": "running",
        "sync.state.done": "done",
        "sync.state.failed": "failed",
        "sync.state.waiting": "waiting",
        "sync.state.skipped": "already complete (tick “start over” to read everything again)",
        "sync.stream": "Stream",
        "sync.pages": "Pages",
        "sync.records": "Read",
        "sync.enqueued": "Enqueued",
        "sync.error": "Error",
        "sync.progress": "Progress",
        "sync.refreshes": "This page refreshes itself every {seconds} seconds until the job ends.",
        "sync.worker_note": "The worker runs the job; the records read are enqueued as tasks.",
    },
    "ru": {
        "nav.sync": "Синхронизация",
        "sync.title": "Синхронизация",
        "sync.system": "Система",
        "sync.poll": "Опросить сейчас",
        "sync.full": "Полная синхронизация",
        "sync.restart": "с начала",
        "sync.none": "Нет настроенных систем для опроса или синхронизации.",
        "sync.jobs": "Последние запуски",
        "sync.no_jobs": "Из консоли ещё ничего не запускали.",
        "sync.job": "Запуск #{id}: {kind}, {system}",
        "sync.kind.poll": "опрос",
        "sync.kind.full": "полная синхронизация",
        "sync.by": "запустил {name}, {when}",
        "sync.state": "Состояние",
        "sync.state.queued": "в очереди",
        "sync.state.running": "выполняется",
        "sync.state.done": "готово",
        "sync.state.failed": "ошибка",
        "sync.state.waiting": "ожидает",
        "sync.state.skipped": "уже завершена (отметьте «с начала», чтобы прочитать всё заново)",
        "sync.stream": "Поток",
        "sync.pages": "Страниц",
        "sync.records": "Прочитано",
        "sync.enqueued": "В очереди",
        "sync.error": "Ошибка",
        "sync.progress": "Ход",
        "sync.refreshes": "Страница обновляется каждые {seconds} с, пока запуск не закончится.",
        "sync.worker_note": "Запуск выполняет воркер; прочитанные записи ставятся в очередь.",
    },
}
