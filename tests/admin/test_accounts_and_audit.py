"""Accounts (admin only) and the audit trail with each account's name."""

from __future__ import annotations

from click.testing import CliRunner

from connector.cli import main
from tests.admin.conftest import ConsoleApp, csrf


def test_an_admin_adds_an_account_that_then_signs_in_and_the_trail_names_who(
    console_app: ConsoleApp,
) -> None:
    admin = console_app.client("admin")
    page = admin.get("/admin/accounts/")
    answer = admin.post(
        "/admin/accounts/add",
        data={
            "name": "Ольга",
            "role": "operator",
            "password": "long enough",
            "csrf_token": csrf(page.text),
        },
    )
    assert answer.status_code == 303
    assert console_app.accounts.get("Ольга").role == "operator"
    trail = admin.get("/admin/audit/").text
    assert "account-add" in trail and "Ольга" in trail
    assert '<td class="who">admin</td>' in trail


def test_a_short_password_is_refused_with_its_reason(console_app: ConsoleApp) -> None:
    admin = console_app.client("admin")
    token = csrf(admin.get("/admin/accounts/").text)
    answer = admin.post(
        "/admin/accounts/add",
        data={"name": "x", "role": "viewer", "password": "short", "csrf_token": token},
    )
    assert answer.status_code == 400
    assert "at least 8 characters" in answer.text


def test_an_operator_cannot_see_or_change_accounts(console_app: ConsoleApp) -> None:
    operator = console_app.client("operator")
    assert operator.get("/admin/accounts/").status_code == 403
    token = csrf(operator.get("/admin/overview/").text)
    answer = operator.post(
        "/admin/accounts/role", data={"name": "operator", "role": "admin", "csrf_token": token}
    )
    assert answer.status_code == 403
    assert console_app.accounts.get("operator").role == "operator"
    assert "/admin/accounts/" not in operator.get("/admin/overview/").text  # not in the menu


def test_a_removed_account_loses_its_session(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    assert viewer.get("/admin/overview/").status_code == 200
    admin = console_app.client("admin")
    token = csrf(admin.get("/admin/accounts/").text)
    admin.post("/admin/accounts/remove", data={"name": "viewer", "csrf_token": token})
    assert viewer.get("/admin/overview/").status_code == 303


def test_the_command_line_adds_lists_changes_and_removes_accounts(
    console_app: ConsoleApp, monkeypatch
) -> None:
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", console_app.services.settings.database_url)
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["admin", "add-user", "Пётр", "--role", "viewer", "--env-file", "/nonexistent"],
        input="password-from-stdin\n",
    )
    assert added.exit_code == 0, added.output
    assert console_app.accounts.verify("Пётр", "password-from-stdin", "test") is not None
    listed = runner.invoke(main, ["admin", "list-users", "--env-file", "/nonexistent"])
    assert "Пётр\tviewer" in listed.output
    runner.invoke(main, ["admin", "set-role", "Пётр", "operator", "--env-file", "/nonexistent"])
    assert console_app.accounts.get("Пётр").role == "operator"
    bad = runner.invoke(main, ["admin", "set-role", "Пётр", "root", "--env-file", "/nonexistent"])
    assert bad.exit_code == 2
    gone = runner.invoke(main, ["admin", "remove-user", "nobody", "--env-file", "/nonexistent"])
    assert gone.exit_code == 2 and "no account 'nobody'" in gone.output
