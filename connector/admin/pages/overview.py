"""Overview: each system's state, the queue by kind and state, dead letters; refreshes itself."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from connector.admin.auth import require
from connector.services import Services
from connector.store import reading
from connector.store.tables import tasks

bp = Blueprint("overview", __name__, url_prefix="/overview")
NAV = ("nav.overview", "index", "viewer")
REFRESH_SECONDS = 15
OPEN_STATES = ("queued", "waiting", "running", "dead")


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


@bp.get("/")
@require("viewer")
def index() -> str:
    return render_template(
        "admin/overview/index.html", refresh=REFRESH_SECONDS, **collect(services())
    )


def collect(found: Services) -> dict[str, Any]:
    settings = found.settings
    stats = found.queue.stats()
    with reading(found.engine) as connection:
        depth = connection.execute(
            select(tasks.c.kind, tasks.c.state, func.count())
            .where(tasks.c.state.in_(OPEN_STATES))
            .group_by(tasks.c.state, tasks.c.kind)
            .order_by(tasks.c.kind, tasks.c.state)
        ).all()
    systems = [
        {"name": s.name, "title": s.title or s.name, "configured": s.is_configured(settings)}
        for s in found.systems
    ]
    return {
        "systems": systems,
        "stats": stats,
        "depth": [{"kind": k, "state": s, "count": c} for k, s, c in depth],
    }
