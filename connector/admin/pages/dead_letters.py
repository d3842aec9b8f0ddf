"""Dead letters: filter by system, kind and error; one letter with every attempt and its payload
(phones and emails masked); replay or discard one, or all that match, after a confirmation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import ColumnElement, and_, func, or_, select
from werkzeug import Response

from connector.admin import as_id, notice
from connector.admin.auth import audit, require
from connector.logs import mask
from connector.queue import DEAD
from connector.services import Services
from connector.store import reading
from connector.store.tables import tasks

bp = Blueprint("dead_letters", __name__, url_prefix="/dead-letters")
NAV = ("nav.dead_letters", "index", "viewer")
PAGE_SIZE = 50
ACTIONS = ("replay", "discard")


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def system_of(kind: str, systems: list[str]) -> str:
    """The system a task kind is about: `push.<system>.x`, `x.push.<system>`, `<system>.x`;
    else the kind's first word (`loyalty`, `sync`)."""
    parts = kind.split(".")
    if parts[0] == "push" and len(parts) > 1:
        return parts[1]
    if len(parts) > 2 and parts[-2] == "push":
        return parts[-1]
    return parts[0]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Filters:
    system: str = ""
    kind: str = ""
    error: str = ""

    @classmethod
    def read(cls, source: Any, systems: list[str]) -> Filters:
        system = str(source.get("system", "")).strip()
        if system and system not in systems:
            system = ""  # only the systems the dropdown offers
        return cls(
            system=system,
            kind=str(source.get("kind", "")).strip()[:100],
            error=str(source.get("error", "")).strip()[:200],
        )

    def condition(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = [tasks.c.state == DEAD]
        if self.system:
            s = _like(self.system)
            parts.append(
                or_(
                    tasks.c.kind.like(f"{s}.%", escape="\\"),
                    tasks.c.kind.like(f"push.{s}.%", escape="\\"),
                    tasks.c.kind.like(f"%.push.{s}", escape="\\"),
                )
            )
        if self.kind:
            parts.append(tasks.c.kind == self.kind)
        if self.error:
            parts.append(
                func.lower(tasks.c.last_error).like(f"%{_like(self.error.lower())}%", escape="\\")
            )
        return and_(*parts)

    def args(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def _systems(found: Services) -> list[str]:
    return [s.name for s in found.systems] + ["delivery", "loyalty", "sync", "maintenance"]


@bp.get("/")
@require("viewer")
def index() -> str:
    found = services()
    systems = _systems(found)
    filters = Filters.read(request.args, systems)
    before = as_id(request.args.get("before"))
    condition = filters.condition()
    page = condition
    if before is not None:
        page = and_(condition, tasks.c.id < before)
    with reading(found.engine) as connection:
        total = connection.scalar(select(func.count()).select_from(tasks).where(condition)) or 0
        rows = connection.execute(
            select(
                tasks.c.id,
                tasks.c.kind,
                tasks.c.attempts,
                tasks.c.finished_at,
                tasks.c.last_error,
            )
            .where(page)
            .order_by(tasks.c.id.desc())
            .limit(PAGE_SIZE + 1)
        ).all()
        kinds = list(
            connection.scalars(
                select(tasks.c.kind).where(tasks.c.state == DEAD).group_by(tasks.c.kind)
            )
        )
    more = len(rows) > PAGE_SIZE
    letters = [
        {
            "id": r.id,
            "kind": r.kind,
            "system": system_of(r.kind, systems),
            "attempts": r.attempts,
            "finished_at": r.finished_at,
            "error": mask((r.last_error or "")[:300]),
        }
        for r in rows[:PAGE_SIZE]
    ]
    return render_template(
        "admin/dead_letters/index.html",
        letters=letters,
        total=total,
        filters=filters,
        systems=systems,
        kinds=sorted(kinds),
        next_before=letters[-1]["id"] if more else None,
    )


@bp.get("/<int:task_id>")
@require("viewer")
def letter(task_id: int) -> str:
    found = services()
    task = found.queue.get(task_id) if task_id < 2**63 else None
    if task is None:
        abort(404)
    errors = [
        {**e, "message": mask(str(e.get("message") or ""))} for e in found.queue.errors(task_id)
    ]
    payload = mask(json.dumps(task["payload"], ensure_ascii=False, indent=2, default=str))
    return render_template(
        "admin/dead_letters/letter.html",
        task=task,
        system=system_of(task["kind"], _systems(found)),
        errors=errors,
        payload=payload,
        last_error=mask(task.get("last_error") or ""),
    )


@bp.get("/confirm/<action>")
@require("operator")
def confirm(action: str) -> str:
    """What a replay or discard will touch, and the button that does it."""
    if action not in ACTIONS:
        abort(404)
    found = services()
    one = as_id(request.args.get("id"))
    filters = Filters.read(request.args, _systems(found))
    if one is not None:
        task_id, condition = str(one), and_(tasks.c.state == DEAD, tasks.c.id == one)
    else:
        task_id, condition = "", filters.condition()
    with reading(found.engine) as connection:
        count = connection.scalar(select(func.count()).select_from(tasks).where(condition)) or 0
    return render_template(
        "admin/dead_letters/confirm.html",
        action=action,
        task_id=task_id,
        filters=filters,
        count=count,
    )


@bp.post("/<action>")
@require("operator")
def act(action: str) -> Response:
    """Replays or discards one dead letter (`id`) or all that match the filter fields."""
    if action not in ACTIONS:
        abort(404)
    found = services()
    queue = found.queue
    task_id = request.form.get("id", "")
    if task_id:
        one = as_id(task_id)
        if one is None:
            abort(400)
        ids = [one]
        target = f"task {task_id}"
        detail: dict[str, Any] = {}
    else:
        filters = Filters.read(request.form, _systems(found))
        with reading(found.engine) as connection:
            ids = list(
                connection.scalars(
                    select(tasks.c.id).where(filters.condition()).order_by(tasks.c.id)
                )
            )
        target = "dead letters matching " + (
            ", ".join(f"{k}={v}" for k, v in filters.args().items()) or "everything"
        )
        detail = {"filter": filters.args()}
    done = 0
    for one in ids:
        if action == "replay":
            done += queue.replay(one)
        else:
            done += 1 if queue.discard(one) else 0
    audit(f"dead-letter-{action}", target, {**detail, "count": done})
    if task_id:
        return notice("admin.dead_letters.letter", f"dead.{action}ed", done, task_id=ids[0])
    return notice("admin.dead_letters.index", f"dead.{action}ed", done)


TEXTS = {
    "en": {
        "dead.title": "Dead letters",
        "dead.filter": "Filter",
        "dead.system": "System",
        "dead.kind": "Kind",
        "dead.error": "Error contains",
        "dead.any": "any",
        "dead.matching": "{count} matching",
        "dead.none": "No dead letters match.",
        "dead.id": "Task",
        "dead.attempts": "Attempts",
        "dead.died": "Died at (UTC)",
        "dead.last_error": "Last error",
        "dead.older": "Older letters",
        "dead.replay_all": "Replay all matching",
        "dead.discard_all": "Discard all matching",
        "dead.replay": "Replay",
        "dead.discard": "Discard",
        "dead.letter": "Dead letter {id}",
        "dead.state": "State",
        "dead.ordering_key": "Ordering key",
        "dead.dedupe_key": "Dedupe key",
        "dead.enqueued": "Enqueued at (UTC)",
        "dead.history": "Every attempt",
        "dead.attempt": "Attempt",
        "dead.failed_at": "Failed at (UTC)",
        "dead.payload": "Payload (phones and emails masked)",
        "dead.confirm_replay": "Replay {count} dead letter(s)?",
        "dead.confirm_discard": "Discard {count} dead letter(s) for good?",
        "dead.confirm_help": "Replayed letters go back to the queue and run before the later "
        "tasks of their key. Discarded letters stay visible but never run.",
        "dead.yes_replay": "Yes, replay",
        "dead.yes_discard": "Yes, discard",
        "dead.cancel": "Cancel",
        "dead.replayed": "Replayed {count} dead letter(s).",
        "dead.discarded": "Discarded {count} dead letter(s).",
        "dead.back": "All dead letters",
    },
    "ru": {
        "dead.title": "Мёртвые письма",
        "dead.filter": "Показать",
        "dead.system": "Система",
        "dead.kind": "Вид",
        "dead.error": "Ошибка содержит",
        "dead.any": "любая",
        "dead.matching": "найдено: {count}",
        "dead.none": "Мёртвых писем по этому фильтру нет.",
        "dead.id": "Задача",
        "dead.attempts": "Попыток",
        "dead.died": "Умерла (UTC)",
        "dead.last_error": "Последняя ошибка",
        "dead.older": "Более старые",
        "dead.replay_all": "Повторить все найденные",
        "dead.discard_all": "Отбросить все найденные",
        "dead.replay": "Повторить",
        "dead.discard": "Отбросить",
        "dead.letter": "Мёртвое письмо {id}",
        "dead.state": "Состояние",
        "dead.ordering_key": "Ключ порядка",
        "dead.dedupe_key": "Ключ дедупликации",
        "dead.enqueued": "Поставлена (UTC)",
        "dead.history": "Все попытки",
        "dead.attempt": "Попытка",
        "dead.failed_at": "Ошибка (UTC)",
        "dead.payload": "Данные (телефоны и почта скрыты)",
        "dead.confirm_replay": "Повторить мёртвые письма ({count})?",
        "dead.confirm_discard": "Отбросить мёртвые письма ({count}) насовсем?",
        "dead.confirm_help": "Повторённые письма возвращаются в очередь и выполняются раньше "
        "следующих задач своего ключа. Отброшенные остаются видны, но не выполняются.",
        "dead.yes_replay": "Да, повторить",
        "dead.yes_discard": "Да, отбросить",
        "dead.cancel": "Отмена",
        "dead.replayed": "Повторено писем: {count}.",
        "dead.discarded": "Отброшено писем: {count}.",
        "dead.back": "Все мёртвые письма",
    },
}
