"""Segments: how many customers each RFM segment holds, their revenue and share, as a bar chart,
and the latest segment transitions (connector/analytics, docs/analytics.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from connector.admin.auth import require
from connector.services import Services

bp = Blueprint("segments", __name__, url_prefix="/segments")
NAV = ("nav.segments", "index", "viewer")
RECENT = 50


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def _day(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d")


@bp.get("/")
@require("viewer")
def index() -> str:
    from connector.analytics.keeper import segment_sizes
    from connector.store import reading
    from connector.store.tables import analytics_runs, segment_transitions

    engine = services().engine
    sizes = segment_sizes(engine)
    total = sum(count for _, count, _ in sizes) or 1
    most = max((count for _, count, _ in sizes), default=1) or 1
    rows = [
        {
            "name": name,
            "count": count,
            "share": f"{100 * count / total:.1f}",
            "revenue": f"{revenue / 100:,.2f}",
        }
        for name, count, revenue in sizes
    ]
    st = segment_transitions
    with reading(engine) as connection:
        moves: list[dict[str, Any]] = [
            row._asdict() | {"day": _day(row.at)}
            for row in connection.execute(select(st).order_by(st.c.id.desc()).limit(RECENT))
        ]
        last_run = connection.execute(
            select(analytics_runs.c.finished_at)
            .where(analytics_runs.c.finished_at.is_not(None))
            .order_by(analytics_runs.c.id.desc())
            .limit(1)
        ).scalar()
    return render_template(
        "admin/segments/index.html", rows=rows, most=most, moves=moves, last_run=_day(last_run)
    )


TEXTS = {
    "en": {
        "nav.segments": "Segments",
        "segments.title": "Customer segments",
        "segments.segment": "Segment",
        "segments.customers": "Customers",
        "segments.share": "Share",
        "segments.revenue": "Revenue",
        "segments.none": "No segments yet: the nightly run (or `connector analytics recompute`) "
        "computes them.",
        "segments.last_run": "Last nightly run: {day}",
        "segments.moves": "Latest segment transitions",
        "segments.customer": "Customer",
        "segments.from": "From",
        "segments.to": "To",
        "segments.day": "Date",
        "segments.cause": "Cause",
    },
    "ru": {
        "nav.segments": "Сегменты",
        "segments.title": "Сегменты клиентов",
        "segments.segment": "Сегмент",
        "segments.customers": "Клиенты",
        "segments.share": "Доля",
        "segments.revenue": "Выручка",
        "segments.none": "Сегментов пока нет: их считает ночной пересчёт "
        "(или `connector analytics recompute`).",
        "segments.last_run": "Последний ночной пересчёт: {day}",
        "segments.moves": "Последние переходы между сегментами",
        "segments.customer": "Клиент",
        "segments.from": "Из",
        "segments.to": "В",
        "segments.day": "Дата",
        "segments.cause": "Причина",
    },
}
