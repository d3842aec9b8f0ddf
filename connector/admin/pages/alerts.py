"""Alerts: the channels and whether their messages went out, the rules in force, the open and
recent incidents; an admin sends a test message to every channel (audited).

Nothing here sends an alert: the scheduler's evaluation does (connector/alerts/evaluate.py).
No secret reaches the page: a channel shows where it sends (a webhook only by its host).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from connector.admin import notice
from connector.admin.auth import audit, current, require
from connector.alerts.rules import RULES
from connector.services import Services

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
NAV = ("nav.alerts", "index", "viewer")
RECENT = 30


def services() -> Services:
    found: Services = current_app.extensions["connector"]
    return found


def _thresholds(services: Services) -> dict[str, str]:
    settings = services.settings
    return {
        "system_failing": f"{settings.alerts_failing_minutes:g} min",
        "webhook_disabled": "",
        "queue_lag": f"{settings.alerts_queue_lag_minutes:g} min",
        "refused_webhooks": f"{settings.alerts_refused_webhooks} / 5 min",
        "dead_letters": f"{settings.alerts_digest_minutes:g} min",
    }


@bp.get("/")
@require("viewer")
def index() -> Any:
    from connector.alerts.status import channel_status, configuration_problems, incidents

    found = services()
    account = current()
    shown = incidents(found.engine, limit=RECENT)
    known = {"email", "telegram", "webhook"}
    return render_template(
        "admin/alerts/index.html",
        channels=channel_status(found.engine, found.settings),
        problems=configuration_problems(found.settings),
        open_incidents=[i for i in shown if i.state == "open"],
        recent=[i for i in shown if i.state != "open"],
        rules=RULES,
        thresholds=_thresholds(found),
        may_test=account is not None and account.may("admin"),
        failed=[name for name in request.args.get("failed", "").split(",") if name in known],
    )


@bp.post("/test")
@require("admin")
def test() -> Any:
    from connector.alerts.evaluate import send_test

    outcome = send_test(services())
    failed = sorted(name for name, error in outcome.items() if error is not None)
    audit("alerts.test", ", ".join(outcome) or "-", {"failed": failed})
    if not outcome:
        return notice("admin.alerts.index", "alerts.no_channels")
    if failed:
        return notice(
            "admin.alerts.index", "alerts.test_failed", count=len(failed), failed=",".join(failed)
        )
    return notice("admin.alerts.index", "alerts.test_sent", count=len(outcome))


TEXTS = {
    "en": {
        "nav.alerts": "Alerts",
        "alerts.title": "Alerts",
        "alerts.channels": "Channels",
        "alerts.channel": "Channel",
        "alerts.target": "Sends to",
        "alerts.last_sent": "Last sent",
        "alerts.owed": "Waiting",
        "alerts.last_error": "Last error",
        "alerts.no_channel": "No channel is set: incidents are kept and shown here, but sent "
        "nowhere. Set CONNECTOR_ALERTS_* (docs/alerts.md).",
        "alerts.send_test": "Send a test message to every channel",
        "alerts.test_sent": "Test message sent to {count} channel(s).",
        "alerts.test_failed": "{count} channel(s) could not send the test message.",
        "alerts.not_sent_via": "Not sent via: {names}. `connector alerts test` prints why.",
        "alerts.no_channels": "No channel is set: nothing was sent.",
        "alerts.rules": "Rules",
        "alerts.rule": "Rule",
        "alerts.threshold": "Threshold",
        "alerts.open": "Open incidents",
        "alerts.none_open": "No open incident.",
        "alerts.recent": "Recent incidents and digests",
        "alerts.none_recent": "None yet.",
        "alerts.opened": "Opened",
        "alerts.cleared": "Cleared",
        "alerts.seen": "Last seen",
        "alerts.summary": "What",
        "alerts.messages": "Messages",
        "alerts.state": "State",
    },
    "ru": {
        "nav.alerts": "Оповещения",
        "alerts.title": "Оповещения",
        "alerts.channels": "Каналы",
        "alerts.channel": "Канал",
        "alerts.target": "Куда",
        "alerts.last_sent": "Последняя отправка",
        "alerts.owed": "Ждут отправки",
        "alerts.last_error": "Последняя ошибка",
        "alerts.no_channel": "Ни один канал не настроен: инциденты сохраняются и видны здесь, "
        "но никуда не отправляются. Задайте CONNECTOR_ALERTS_* (docs/alerts.md).",
        "alerts.send_test": "Отправить тестовое сообщение во все каналы",
        "alerts.test_sent": "Тестовое сообщение отправлено в каналы: {count}.",
        "alerts.test_failed": "Не удалось отправить тестовое сообщение в каналы: {count}.",
        "alerts.not_sent_via": "Не отправлено через: {names}. Причину покажет "
        "`connector alerts test`.",
        "alerts.no_channels": "Ни один канал не настроен: ничего не отправлено.",
        "alerts.rules": "Правила",
        "alerts.rule": "Правило",
        "alerts.threshold": "Порог",
        "alerts.open": "Открытые инциденты",
        "alerts.none_open": "Открытых инцидентов нет.",
        "alerts.recent": "Недавние инциденты и сводки",
        "alerts.none_recent": "Пока нет.",
        "alerts.opened": "Открыт",
        "alerts.cleared": "Закрыт",
        "alerts.seen": "Последний раз",
        "alerts.summary": "Что",
        "alerts.messages": "Сообщения",
        "alerts.state": "Состояние",
    },
}
