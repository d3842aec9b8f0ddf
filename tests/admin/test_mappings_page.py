"""The mappings page: validation results, the editor, versions with diffs, revert, try."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.config import load_settings
from connector.store import reading
from connector.store.tables import admin_actions, mapping_versions, tasks
from tests.admin.conftest import ROOT, SCREENSHOTS, Console, ConsoleApp, build, csrf
from tests.admin.live import served

FILE = "woocommerce/order.yaml"


def settings_with_own_mappings(tmp_path: Path) -> Any:
    """Settings on a new store and a copy of the shipped mappings (the tests edit it)."""
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    env = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_MAPPINGS_DIR": str(folder),
    }
    return load_settings(env=env, env_file=None)


@pytest.fixture
def mappings_app(tmp_path: Path) -> ConsoleApp:
    return build(settings_with_own_mappings(tmp_path))


@pytest.fixture
def mappings_console(browser: Any, tmp_path: Path) -> Iterator[Console]:
    with served(build(settings_with_own_mappings(tmp_path)), browser) as running:
        yield running


def test_an_admin_fixes_a_mapping_in_the_editor_sees_the_diff_and_reverts_it(
    mappings_console: Console,
) -> None:
    folder = mappings_console.services.mappings_path
    original = (folder / FILE).read_text()
    page = mappings_console.page("admin")
    page.set_default_timeout(60_000)  # a save checks the whole set: seconds on a busy machine
    page.goto("/admin/mappings/")
    assert "valid" in page.locator(f"tr[data-path='{FILE}'] td").nth(1).inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-mappings.png"))

    page.click(f"a:text-is('{FILE}')")
    lines = original.split("\n")
    at = next(n for n, line in enumerate(lines, 1) if line.startswith("fields:"))
    broken = "\n".join([*lines[: at - 1], "fieldz: []", *lines[at - 1 :]])
    page.fill("#mapping-text", broken)
    page.click("#save")
    problem = page.locator(f"#problems li[data-line='{at}']")
    assert f"line {at}" in problem.inner_text() and "fieldz" in problem.inner_text()
    assert page.locator(f"#L{at}.problem").count() == 1
    assert (folder / FILE).read_text() == original  # refused: nothing written
    page.screenshot(path=str(SCREENSHOTS / "admin-mappings-editor.png"))  # the top of a tall page

    page.fill("#mapping-text", original.replace("fields:", "# edited in the console\nfields:", 1))
    page.click("#save")
    page.wait_for_url("**/admin/mappings/versions/**")
    assert "in force" in page.locator(".flash").inner_text() or page.locator(".flash").count()
    versions = page.locator("section.version")
    assert versions.count() == 2
    newest = versions.nth(0)
    assert newest.get_attribute("data-action") == "save"
    assert "admin" in newest.locator(".by").inner_text()
    assert "+# edited in the console" in newest.locator("pre.diff .add").all_inner_texts()
    assert "# edited in the console" in (folder / FILE).read_text()
    current = mappings_console.services.mappings
    current.reload_if_changed()
    assert "# edited in the console" in current.current.sources[FILE]
    mappings_console.shot(page, "admin-mappings-versions")

    versions.nth(1).locator("button.revert").click()
    page.wait_for_url("**/admin/mappings/versions/**")
    assert page.locator("section.version").nth(0).get_attribute("data-action") == "revert"
    assert (folder / FILE).read_text() == original
    with reading(mappings_console.services.engine) as connection:
        trail = connection.execute(
            select(admin_actions.c.account, admin_actions.c.action, admin_actions.c.target)
            .where(admin_actions.c.action.like("mapping.%"))
            .order_by(admin_actions.c.id)
        ).all()
    assert [tuple(row) for row in trail] == [
        ("admin", "mapping.save", FILE),
        ("admin", "mapping.revert", FILE),
    ]


def test_a_viewer_reads_and_tries_but_cannot_save(mappings_app: ConsoleApp) -> None:
    viewer = mappings_app.client("viewer")
    page = viewer.get(f"/admin/mappings/file/{FILE}")
    assert page.status_code == 200 and 'id="mapping-text"' not in page.text
    answer = viewer.post(
        f"/admin/mappings/file/{FILE}", data={"csrf_token": csrf(page.text), "text": "x: 1"}
    )
    assert answer.status_code == 403
    with reading(mappings_app.services.engine) as connection:
        assert connection.scalar(select(func.count()).select_from(mapping_versions)) == 0


def test_trying_a_payload_shows_each_system_and_writes_nothing(mappings_app: ConsoleApp) -> None:
    viewer = mappings_app.client("viewer")
    form = viewer.get("/admin/mappings/try")
    payload = (ROOT / "specs" / "woocommerce" / "order.json").read_text()
    answer = viewer.post(
        "/admin/mappings/try",
        data={"csrf_token": csrf(form.text), "mapping": "woocommerce/order", "payload": payload},
    )
    assert answer.status_code == 200
    targets = re.findall(r'data-target="([^"]+)"', answer.text)
    assert "bitrix24/deal" in targets and "mailchimp/order" in targets
    assert json.loads(payload)["billing"]["email"] in answer.text
    with reading(mappings_app.services.engine) as connection:
        assert connection.scalar(select(func.count()).select_from(tasks)) == 0

    broken = viewer.post(
        "/admin/mappings/try",
        data={"csrf_token": csrf(form.text), "mapping": "woocommerce/order", "payload": "{"},
    )
    assert broken.status_code == 400 and "line 1, column 2" in broken.text


def test_a_save_over_a_change_made_meanwhile_is_refused(mappings_app: ConsoleApp) -> None:
    admin = mappings_app.client("admin")
    page = admin.get(f"/admin/mappings/file/{FILE}")
    base = re.search(r'name="base_hash" value="([^"]+)"', page.text)
    assert base is not None
    path = mappings_app.services.mappings_path / FILE
    path.write_text(path.read_text() + "# pulled from git\n")
    answer = admin.post(
        f"/admin/mappings/file/{FILE}",
        data={"csrf_token": csrf(page.text), "text": "# mine\n", "base_hash": base.group(1)},
    )
    assert answer.status_code == 409 and "changed since you opened it" in answer.text
    assert path.read_text().endswith("# pulled from git\n")


def test_a_file_outside_the_folder_is_not_found(mappings_app: ConsoleApp) -> None:
    admin = mappings_app.client("admin")
    for path in ("../connector.db", "woocommerce/nope.yaml", "%2e%2e/connector.db"):
        assert admin.get(f"/admin/mappings/file/{path}").status_code == 404
