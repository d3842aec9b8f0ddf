"""The sync page: poll now or a full sync, with the progress the running job reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from connector.store import reading
from connector.store.tables import admin_actions
from tests.admin.conftest import ConsoleApp, csrf
from tests.sync.test_progress import run_job_tasks


def test_poll_now_shows_the_jobs_progress_until_it_is_done(console: Any) -> None:
    page = console.page("operator")
    page.goto("/admin/sync/")
    page.click("tr[data-system=woocommerce] button.poll")
    page.wait_for_url("**/admin/sync/job/*")
    job = page.locator("section.job")
    assert job.get_attribute("data-state") == "queued"
    assert page.locator("meta[http-equiv=refresh]").count() == 1

    run_job_tasks(console.services)  # what the worker does

    page.wait_for_selector("section.job[data-state=done]", timeout=15_000)  # refreshed itself
    assert page.locator("progress.job-progress").get_attribute("value") == "100"
    streams = page.locator("tr[data-stream]")
    assert streams.count() == 4  # orders, products, customers, coupons
    assert {streams.nth(i).get_attribute("data-state") for i in range(4)} == {"done"}
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    console.shot(page, "admin-sync")
    with reading(console.services.engine) as connection:
        trail = connection.execute(
            select(admin_actions.c.account, admin_actions.c.action, admin_actions.c.target).where(
                admin_actions.c.action.like("sync.%")
            )
        ).all()
    assert [tuple(row) for row in trail] == [("operator", "sync.poll", "woocommerce")]


def test_a_viewer_sees_the_jobs_but_cannot_start_one(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    page = viewer.get("/admin/sync/")
    assert page.status_code == 200 and "button" not in page.text.split("<main>")[1].split("<h2>")[0]
    answer = viewer.post(
        "/admin/sync/start", data={"csrf_token": csrf(page.text), "system": "x", "kind": "poll"}
    )
    assert answer.status_code == 403


def test_starting_a_system_that_is_not_configured_is_refused(console_app: ConsoleApp) -> None:
    operator = console_app.client("operator")
    token = csrf(operator.get("/admin/sync/").text)
    answer = operator.post(
        "/admin/sync/start", data={"csrf_token": token, "system": "woocommerce", "kind": "poll"}
    )
    assert answer.status_code == 400 and "nothing to poll" in answer.text
    bad_kind = operator.post(
        "/admin/sync/start", data={"csrf_token": token, "system": "woocommerce", "kind": "drop"}
    )
    assert bad_kind.status_code == 400
    assert console_app.client("viewer").get("/admin/sync/job/999").status_code == 404
