"""The alerts page: channels and incidents for every role, a test message sent by an admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.alerts.evaluate import evaluate
from connector.config import load_settings
from connector.store import reading
from connector.store.tables import admin_actions
from tests.admin.conftest import ConsoleApp, build, csrf
from tests.admin.live import served
from tests.alerts.conftest import Inbox
from tests.support import free_port

HOOK_SECRET = "hook-path-secret"
TOKEN = "123456:telegram-token-secret"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    found = Inbox()
    port = free_port()
    controller = Controller(found, hostname="127.0.0.1", port=port)
    controller.start()
    yield found, port
    controller.stop()


def alerting_console(tmp_path: Path, port: int) -> ConsoleApp:
    env = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_ALERTS_EMAIL_TO": "ops@example.com",
        "CONNECTOR_ALERTS_SMTP_HOST": "127.0.0.1",
        "CONNECTOR_ALERTS_SMTP_PORT": str(port),
        "CONNECTOR_ALERTS_SMTP_SECURITY": "none",
        "CONNECTOR_ALERTS_TELEGRAM_TOKEN": TOKEN,
        "CONNECTOR_ALERTS_TELEGRAM_CHAT_ID": "-1001",
        "CONNECTOR_ALERTS_TELEGRAM_URL": "http://127.0.0.1:9",  # nobody listens
        "CONNECTOR_ALERTS_WEBHOOK_URL": f"http://127.0.0.1:9/{HOOK_SECRET}",
        "CONNECTOR_ALERTS_TIMEOUT": "1",
    }
    return build(load_settings(env=env, env_file=None))


def lagging_queue(app: ConsoleApp) -> None:
    """An open queue-lag incident: a task due an hour ago that nobody ran."""
    now = app.services.queue.clock()
    app.services.queue.enqueue("diagnostic.noop", {}, run_at=now - 3600)
    evaluate(app.services, channels=[])


def test_every_role_sees_channels_and_open_incidents_but_no_secret(
    tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    app = alerting_console(tmp_path, inbox[1])
    lagging_queue(app)
    page = app.client("viewer").get("/admin/alerts/")
    assert page.status_code == 200
    html = page.text
    assert 'data-channel="email"' in html and "ops@example.com" in html
    assert 'data-channel="telegram"' in html and 'data-channel="webhook"' in html
    assert 'data-rule="queue_lag"' in html
    assert HOOK_SECRET not in html and TOKEN not in html
    assert 'id="send-test"' not in html  # a viewer may not send


def test_an_admin_sends_a_test_message_and_the_trail_records_it(
    tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    mails, port = inbox
    app = alerting_console(tmp_path, port)
    viewer = app.client("viewer")
    token = csrf(viewer.get("/admin/alerts/").text)
    assert viewer.post("/admin/alerts/test", data={"csrf_token": token}).status_code == 403
    assert mails.mails == []

    admin = app.client("admin")
    page = admin.get("/admin/alerts/")
    assert admin.post("/admin/alerts/test", data={}).status_code == 400  # no CSRF token
    sent = admin.post("/admin/alerts/test", data={"csrf_token": csrf(page.text)})
    assert sent.status_code == 303
    assert "notice=alerts.test_failed" in sent.headers["Location"]  # Telegram and the hook
    assert mails.subjects() == ["[connector] test alert"]
    with reading(app.services.engine) as connection:
        row = connection.execute(
            select(admin_actions).where(admin_actions.c.action == "alerts.test")
        ).one()
    assert row.account == "admin"
    assert row.detail == {"failed": ["telegram", "webhook"]}


def test_the_alerts_page_in_a_browser(
    browser: Any, tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    mails, port = inbox
    app = alerting_console(tmp_path, port)
    lagging_queue(app)
    with served(app, browser) as running:
        page = running.page("admin")
        page.goto("/admin/alerts/")
        assert page.locator("#open-incidents tr[data-rule=queue_lag]").count() == 1
        page.click("#send-test")
        page.wait_for_url("**notice=alerts.test_failed**")
        assert "could not send" in page.locator("p.flash").first.inner_text()
        assert "telegram, webhook" in page.locator("#test-failed").inner_text()
        assert mails.subjects() == ["[connector] test alert"]
        running.shot(page, "admin-alerts")
