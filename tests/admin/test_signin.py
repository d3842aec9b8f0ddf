"""Signing in to the console, in a real browser and through the test client."""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import PASSWORD, ConsoleApp, csrf, sign_in


def test_an_operator_signs_in_in_the_browser_and_sees_the_overview(console: Any) -> None:
    page = console.page("operator")
    assert page.locator("h1").inner_text() == "Overview"
    assert "operator" in page.locator(".account").inner_text()
    assert page.locator("#systems tr[data-system=bitrix24]").count() == 1  # configured
    assert page.locator("[data-system=shop][data-configured=no]").count() == 1
    console.shot(page, "admin-overview")


def test_a_stranger_is_sent_to_the_sign_in_page_from_every_console_page(
    console_app: ConsoleApp,
) -> None:
    stranger = console_app.client()
    for rule in console_app.app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in ("admin.signin", "admin.static") or rule.arguments:
            continue
        answer = stranger.get(rule.rule)
        assert answer.status_code == 303, rule.rule
        assert answer.headers["Location"].startswith("/admin/sign-in?next="), rule.rule


def test_a_wrong_password_is_refused_and_the_sixth_try_is_limited(
    console_app: ConsoleApp,
) -> None:
    client = console_app.client()
    for _ in range(5):
        assert sign_in(client, "operator", "wrong password").status_code == 401
    assert sign_in(client, "operator", PASSWORD).status_code == 429


def test_a_form_without_its_csrf_token_is_refused(console_app: ConsoleApp) -> None:
    client = console_app.client("operator")
    assert client.post("/admin/sign-out").status_code == 400
    page = client.get("/admin/overview/")
    assert client.post("/admin/sign-out", data={"csrf_token": csrf(page.text)}).status_code == 303
    assert client.get("/admin/overview/").status_code == 303  # signed out


def test_the_session_cookie_is_httponly_and_samesite(console_app: ConsoleApp) -> None:
    client = console_app.client()
    page = client.get("/admin/sign-in")
    answer = client.post(
        "/admin/sign-in",
        data={"name": "viewer", "password": PASSWORD, "csrf_token": csrf(page.text)},
    )
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("connector_admin=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
