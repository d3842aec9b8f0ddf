"""The overview: a failing system, its last error, the queue and the dead letters."""

from __future__ import annotations

from tests.admin.conftest import ConsoleApp
from tests.admin.support import make_dead_letter


def test_a_failing_system_shows_its_last_error_and_the_dead_letter_count(
    console_app: ConsoleApp,
) -> None:
    services = console_app.services
    make_dead_letter(services, "push.bitrix24.deal", {"order": "1"}, "stage PAID is not a stage")
    services.queue.enqueue("push.mailchimp.member", {"email": "x@example.com"})
    page = console_app.client("viewer").get("/admin/overview/")
    assert page.status_code == 200
    html = page.text
    assert '<span class="figure" id="dead-count">1</span>' in html
    assert "stage PAID is not a stage" in html
    assert "push.mailchimp.member" in html  # queue depth by kind
    assert '<meta http-equiv="refresh"' in html


def test_every_console_page_answers_with_the_security_headers(console_app: ConsoleApp) -> None:
    answer = console_app.client("viewer").get("/admin/overview/")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"
