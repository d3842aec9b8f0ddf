"""The Cascades console in Chromium: the operator reads a scenario's funnel, follows a run to
the customer's page, sees her runs and stops the running one; a viewer sees no stop button and
her forged stop is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.store.tables import cascade_runs
from tests.admin.conftest import ConsoleApp
from tests.admin.test_console_cascades import CART, seed


def _served(browser: Any, tmp_path: Path) -> tuple[ConsoleApp, Any]:
    from connector.config import load_settings
    from tests.admin.conftest import build, own_env
    from tests.admin.live import served

    built = build(load_settings(env=own_env(tmp_path), env_file=None))
    return built, served(built, browser)


def _state(built: ConsoleApp, run: int) -> tuple[str, str | None]:
    with built.services.engine.connect() as connection:
        row = connection.execute(select(cascade_runs).where(cascade_runs.c.id == run)).one()
    return row.state, row.stop_reason


def test_an_operator_reads_the_funnel_finds_the_customer_and_stops_her_running_run(
    browser: Any, tmp_path: Path
) -> None:
    built, serving = _served(browser, tmp_path)
    ids = seed(built)
    with serving as console:
        page = console.page("operator")
        page.click("header nav >> text=Cascades")
        funnel = page.locator(f'svg.funnel[data-scenario="{CART}"]')
        counts = {
            bar: funnel.locator(f'[data-bar="{bar}"]').get_attribute("data-count")
            for bar in ("entered", "step-1", "step-2", "converted")
        }
        assert counts == {"entered": "3", "step-1": "2", "step-2": "1", "converted": "1"}
        assert "3 · 100%" in (funnel.locator('[data-bar="entered"]').text_content() or "")
        console.shot(page, "admin-cascades")

        page.click(f"h2 >> text={CART}")
        page.select_option("select[name=state]", "converted")
        page.click("button >> text=Show")
        assert page.locator("#runs tbody tr").count() == 1
        page.click("#runs >> text=cust-1")
        block = page.locator("#customer-cascades")
        assert block.locator(f'[data-run="{ids["converted"]}"]').get_attribute("data-state") == (
            "converted"
        )
        running = block.locator(f'[data-run="{ids["running"]}"]')
        assert running.locator('tr[data-step="1"]').inner_text().split("\t")[:4] == [
            "1", "telegram messenger", "5***56", "sent"
        ]  # fmt: skip
        running.locator(f'[data-stop="{ids["running"]}"]').click()

        page.wait_for_selector("p.flash.ok")
        assert "The run is stopped" in page.locator("p.flash.ok").inner_text()
        stopped = page.locator(f'#customer-cascades [data-run="{ids["running"]}"]')
        assert stopped.get_attribute("data-state") == "stopped"
        assert "stopped by operator" in stopped.inner_text()
        assert stopped.locator("[data-stop]").count() == 0
        console.shot(page, "admin-customer-cascades")
    assert _state(built, ids["running"]) == ("stopped", "stopped by operator")


def test_a_viewer_sees_no_stop_button_and_a_forged_stop_is_refused(
    browser: Any, tmp_path: Path
) -> None:
    built, serving = _served(browser, tmp_path)
    ids = seed(built)
    with serving as console:
        page = console.page("viewer")
        page.goto("/admin/customers/?q=maria@example.com")
        assert page.locator(f'#customer-cascades [data-run="{ids["running"]}"]').count() == 1
        assert page.locator("[data-stop]").count() == 0
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")

        answer = page.request.post(
            f"/admin/cascades/run/{ids['running']}/stop", form={"csrf_token": token or ""}
        )

        assert answer.status == 403
    assert _state(built, ids["running"]) == ("running", None)
