"""Cascades (issue 16): every scenario with its funnel (entered, sent at each step, converted),
a scenario's runs filtered by state, and a customer's runs with each step's send, its delivery
status and why the run stopped (the block on the customer page, `runs_of_customer`).

The figures are `connector.cascades.report`'s, the same as `connector cascades report`. An
operator may stop a running run the way the engine ends one (`engine.finish`): its state
becomes `stopped` with the reason "stopped by <account>" and its pending step task is
discarded, with the audit line in the same transaction; the step task also reads the run's
state before it sends, so no later step goes.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from connector.admin import notice
from connector.admin.auth import audit, current, require
from connector.cascades.report import (
    ScenarioReport,
    declared,
    duration,
    period_seconds,
    report,
)
from connector.errors import ConfigError
from connector.logs import mask
from connector.services import Services
from connector.store import reading
from connector.store.tables import cascade_runs, cascade_sends

bp = Blueprint("cascades", __name__, url_prefix="/cascades")
NAV = ("nav.cascades", "index", "viewer")
STATES = ("running", "converted", "stopped", "finished")
PERIODS = ("1d", "7d", "30d", "all")
RUNS_SHOWN = 200  # a scenario page's runs, newest first
CUSTOMER_RUNS = 20  # a customer's runs on her page, newest first
BAR_MAX = 360  # the funnel's longest bar, in SVG units
_SCENARIO = re.compile(r"^[\w.-]{1,100}$")


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def declared_steps(found: Services) -> dict[str, int]:
    return declared(found.settings, found.systems)


def _since(text: str | None) -> tuple[str, float | None, str | None]:
    """(the period as chosen, its start or None for every run, a problem to show)."""
    chosen = text or "all"
    if chosen == "all":
        return chosen, None, None
    try:
        seconds = period_seconds(chosen, "since")
    except ConfigError as error:
        return "all", None, str(error)
    return chosen, services().queue.clock() - seconds, None


def _bars(found: ScenarioReport) -> list[dict[str, Any]]:
    """The funnel's bars (entered, sent at each step, converted) with their SVG widths."""
    bars: list[tuple[str, int | None, int]] = [("entered", None, found.entered)]
    bars += [("step", step.step + 1, step.sent) for step in found.steps]
    bars.append(("converted", None, found.converted))
    most = max(count for _, _, count in bars) or 1
    return [
        {
            "key": f"step-{n}" if n else kind,
            "kind": kind,
            "n": n,
            "count": count,
            "width": round(BAR_MAX * count / most),
            "share": f"{100 * count / (found.entered or 1):.0f}",
        }
        for kind, n, count in bars
    ]


def _shown(found: ScenarioReport) -> dict[str, Any]:
    return {
        "report": found,
        "bars": _bars(found),
        "rate": f"{100 * found.conversion_rate:.1f}",
        "median": duration(found.median_seconds_to_convert),
    }


@bp.get("/")
@require("viewer")
def index() -> tuple[str, int]:
    chosen, since, problem = _since(request.args.get("since"))
    found = services()
    scenarios = [_shown(r) for r in report(found.engine, since, declared=declared_steps(found))]
    page = render_template(
        "admin/cascades/index.html",
        scenarios=scenarios,
        since=chosen,
        periods=PERIODS,
        problem=problem,
    )
    return page, 400 if problem else 200


@bp.get("/scenario/<scenario>/")
@require("viewer")
def scenario(scenario: str) -> tuple[str, int]:
    if not _SCENARIO.match(scenario):
        abort(404)
    found = services()
    chosen, since, problem = _since(request.args.get("since"))
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        problem = f"state: {state!r} is no run state; expected one of {', '.join(STATES)}"
        state = None
    declared = declared_steps(found)
    reports = report(found.engine, since, scenario=scenario, declared=declared)
    if not reports or (not reports[0].entered and scenario not in declared):
        abort(404)
    runs = cascade_runs
    query = select(runs).where(runs.c.scenario == scenario)
    if state is not None:
        query = query.where(runs.c.state == state)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    with reading(found.engine) as connection:
        rows = [row._asdict() for row in connection.execute(
            query.order_by(runs.c.id.desc()).limit(RUNS_SHOWN)
        )]  # fmt: skip
    page = render_template(
        "admin/cascades/scenario.html",
        name=scenario,
        shown=_shown(reports[0]),
        runs=[_run(row) for row in rows],
        state=state,
        states=STATES,
        since=chosen,
        periods=PERIODS,
        problem=problem,
        limit=RUNS_SHOWN,
    )
    return page, 400 if problem else 200


def _run(row: dict[str, Any]) -> dict[str, Any]:
    """A run as the pages show it: steps from 1, the trigger's event and reference."""
    trigger = row.get("trigger") or {}
    converted = row.get("converted_step")
    return {
        **row,
        "next_step": row["step"] + 1,
        "converted_after": converted + 1 if converted is not None and converted >= 0 else None,
        "event": trigger.get("event") if isinstance(trigger, dict) else None,
        "ref": trigger.get("ref") if isinstance(trigger, dict) else None,
    }


def runs_of_customer(found: Services, customer_id: str) -> list[dict[str, Any]]:
    """A customer's newest runs, each with its sends (addresses masked), for her page."""
    runs, sends = cascade_runs, cascade_sends
    with reading(found.engine) as connection:
        rows = [
            _run(row._asdict())
            for row in connection.execute(
                select(runs)
                .where(runs.c.customer_id == customer_id)
                .order_by(runs.c.id.desc())
                .limit(CUSTOMER_RUNS)
            )
        ]
        by_run: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        if by_run:
            for send in connection.execute(
                select(sends)
                .where(sends.c.run_id.in_(list(by_run)))
                .order_by(sends.c.run_id, sends.c.step, sends.c.id)
            ):
                item = send._asdict()
                item["address"] = mask(item["address"]) if item["address"] else None
                item["number"] = item["step"] + 1
                by_run[item["run_id"]].append(item)
    for row in rows:
        row["sends"] = by_run[row["id"]]
    return rows


@bp.post("/run/<int:run_id>/stop")
@require("operator")
def stop(run_id: int) -> Response:
    """Stops a running run (operator) as the engine ends one (`engine.finish`): state
    `stopped`, reason "stopped by <account>", its pending step task discarded; audited in the
    same transaction."""
    from connector.cascades.engine import STOPPED, finish

    found = services()
    account = current()
    assert account is not None
    back = request.form.get("back", "")
    now = found.queue.clock()
    runs = cascade_runs
    reason = f"stopped by {account.name}"[:200]
    with found.engine.begin() as connection:
        row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            abort(404)
        changed = False
        if row.state == "running":
            finish(connection, found, row, STOPPED, reason, now)
            after = connection.execute(
                select(runs.c.state, runs.c.stop_reason).where(runs.c.id == run_id)
            ).one()
            changed = (after.state, after.stop_reason) == (STOPPED, reason)
        if changed:
            detail = {"scenario": row.scenario, "customer": row.customer_id}
            audit("cascade.stop", f"run {run_id}", detail, connection=connection)
    key = "cascades.stopped" if changed else "cascades.not_running"
    if back == "customer":
        return notice("admin.customers.index", key, q=row.customer_id)
    return notice("admin.cascades.scenario", key, scenario=row.scenario)


TEXTS = {
    "en": {
        "nav.cascades": "Cascades",
        "cascades.title": "Cascades",
        "cascades.none": "No scenario has run yet (mappings/cascades.yaml).",
        "cascades.period": "Runs started",
        "cascades.period.1d": "last day",
        "cascades.period.7d": "last 7 days",
        "cascades.period.30d": "last 30 days",
        "cascades.period.all": "ever",
        "cascades.show": "Show",
        "cascades.scenario": "Scenario",
        "cascades.entered": "Entered",
        "cascades.converted": "Converted",
        "cascades.rate": "Conversion",
        "cascades.median": "Median time to convert",
        "cascades.running": "Running",
        "cascades.finished": "Finished",
        "cascades.stopped_count": "Stopped",
        "cascades.funnel": "Funnel",
        "cascades.bar.entered": "entered",
        "cascades.bar.step": "step {n} sent",
        "cascades.bar.converted": "converted",
        "cascades.steps": "Steps",
        "cascades.step": "Step",
        "cascades.sent": "Sent",
        "cascades.delivered": "Delivered",
        "cascades.failed": "Failed",
        "cascades.unknown": "Unknown",
        "cascades.skipped": "Skipped (reason)",
        "cascades.channels": "Channels",
        "cascades.stop_reasons": "Why runs stopped",
        "cascades.before_send": "Converted before any message: {count}",
        "cascades.runs": "Runs (newest {limit})",
        "cascades.all_states": "every state",
        "cascades.state": "State",
        "cascades.customer": "Customer",
        "cascades.trigger": "Trigger",
        "cascades.next_step": "Next step",
        "cascades.started": "Started (UTC)",
        "cascades.ended": "Ended (UTC)",
        "cascades.reason": "Stop reason / order",
        "cascades.stop": "Stop",
        "cascades.stopped": "The run is stopped; no further step will be sent.",
        "cascades.not_running": "That run was not running any more; nothing changed.",
        "cascades.no_runs": "No runs.",
        "cascades.customer_block": "Cascades",
        "cascades.channel": "Channel",
        "cascades.address": "Address",
        "cascades.send_state": "Send",
        "cascades.status": "Delivery status",
        "cascades.when": "Sent (UTC)",
        "cascades.converted_after": "converted after step {n}",
        "cascades.no_sends": "No message yet.",
    },
    "ru": {
        "nav.cascades": "Каскады",
        "cascades.title": "Каскады",
        "cascades.none": "Ни один сценарий ещё не запускался (mappings/cascades.yaml).",
        "cascades.period": "Запуски",
        "cascades.period.1d": "за сутки",
        "cascades.period.7d": "за 7 дней",
        "cascades.period.30d": "за 30 дней",
        "cascades.period.all": "за всё время",
        "cascades.show": "Показать",
        "cascades.scenario": "Сценарий",
        "cascades.entered": "Вошли",
        "cascades.converted": "Купили",
        "cascades.rate": "Конверсия",
        "cascades.median": "Медиана до покупки",
        "cascades.running": "Идут",
        "cascades.finished": "Завершены",
        "cascades.stopped_count": "Остановлены",
        "cascades.funnel": "Воронка",
        "cascades.bar.entered": "вошли",
        "cascades.bar.step": "шаг {n} отправлен",
        "cascades.bar.converted": "купили",
        "cascades.steps": "Шаги",
        "cascades.step": "Шаг",
        "cascades.sent": "Отправлено",
        "cascades.delivered": "Доставлено",
        "cascades.failed": "Ошибки",
        "cascades.unknown": "Неизвестно",
        "cascades.skipped": "Пропущено (причина)",
        "cascades.channels": "Каналы",
        "cascades.stop_reasons": "Почему запуски остановлены",
        "cascades.before_send": "Купили до первого сообщения: {count}",
        "cascades.runs": "Запуски (последние {limit})",
        "cascades.all_states": "все состояния",
        "cascades.state": "Состояние",
        "cascades.customer": "Клиент",
        "cascades.trigger": "Триггер",
        "cascades.next_step": "Следующий шаг",
        "cascades.started": "Начат (UTC)",
        "cascades.ended": "Закончен (UTC)",
        "cascades.reason": "Причина остановки / заказ",
        "cascades.stop": "Остановить",
        "cascades.stopped": "Запуск остановлен; следующие шаги не отправятся.",
        "cascades.not_running": "Этот запуск уже не шёл; ничего не изменилось.",
        "cascades.no_runs": "Запусков нет.",
        "cascades.customer_block": "Каскады",
        "cascades.channel": "Канал",
        "cascades.address": "Адрес",
        "cascades.send_state": "Отправка",
        "cascades.status": "Статус доставки",
        "cascades.when": "Отправлено (UTC)",
        "cascades.converted_after": "купила после шага {n}",
        "cascades.no_sends": "Сообщений пока нет.",
    },
}
