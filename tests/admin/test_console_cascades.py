"""The console's Cascades page, a scenario's runs and the customer's block, through Flask's
test client: the funnel's counts, the runs by state, her sends with addresses masked, and an
operator stopping a running run (audited; a viewer and a form without its token are refused)."""

from __future__ import annotations

import time

from sqlalchemy import select

from connector import keys
from connector.cascades.engine import STEP_KIND
from connector.store.tables import admin_actions, cascade_runs
from tests.admin.conftest import ConsoleApp, csrf
from tests.admin.support import make_customer
from tests.cascades.report_rows import Send, add_run

CART = "abandoned_cart"


def seed(console_app: ConsoleApp) -> dict[str, int]:
    """Maria (cust-1, from make_customer) converted after the SMS; two others in the scenario."""
    services = console_app.services
    make_customer(services)
    engine = services.engine
    now = time.time() - 3600
    ids = {
        "converted": add_run(
            engine,
            CART,
            "cust-1",
            "converted",
            started_at=now - 86400,
            took=7200,
            converted_step=1,
            converted_ref="order-cust-1",
            sends=[
                Send(0, "mandrill", status="delivered", address="maria@example.com"),
                Send(1, "smsru", status="delivered", address="+79161234567"),
            ],
        ),  # fmt: skip
        "running": add_run(
            engine,
            "pickup_waiting",
            "cust-1",
            "running",
            started_at=now,
            sends=[
                Send(0, "telegram", status="read", address="555123456"),
                Send(1, "smsru", "skipped", reason="no consent"),
            ],
        ),  # fmt: skip
        "other": add_run(
            engine,
            CART,
            "cust-2",
            "stopped",
            started_at=now,
            took=60,
            stop_reason="opted out",
            sends=[Send(0, "mandrill", status="sent")],
        ),  # fmt: skip
        "waiting": add_run(
            engine,
            CART,
            "cust-3",
            "running",
            started_at=now,
            sends=[Send(0, "mandrill", "failed", reason="refused")],
        ),  # fmt: skip
    }
    return ids


def test_the_cascades_page_shows_each_scenarios_funnel_steps_and_stops_in_both_languages(
    console_app: ConsoleApp,
) -> None:
    seed(console_app)
    viewer = console_app.client("viewer")

    english = viewer.get("/admin/cascades/")
    russian = viewer.get("/admin/cascades/", headers={"Accept-Language": "ru"}).text

    assert english.status_code == 200
    page = english.text
    assert 'href="/admin/cascades/"' in page  # the nav entry
    assert 'data-bar="entered" data-count="3"' in page
    assert 'data-bar="step-1" data-count="2"' in page
    assert 'data-bar="step-2" data-count="1"' in page
    assert 'data-bar="converted" data-count="1"' in page
    assert '<span class="figure" data-figure="rate">33.3%</span>' in page
    assert '<span class="figure" data-figure="median">2 h</span>' in page
    assert 'data-reason="opted out">opted out: 1</span>' in page
    assert "step 1 sent" in page and "шаг 1 отправлен" in russian and "Воронка" in russian


def test_a_scenario_page_lists_its_runs_by_state_and_refuses_unknown_states_and_scenarios(
    console_app: ConsoleApp,
) -> None:
    ids = seed(console_app)
    viewer = console_app.client("viewer")

    every = viewer.get(f"/admin/cascades/scenario/{CART}/").text
    running = viewer.get(f"/admin/cascades/scenario/{CART}/?state=running").text
    nonsense = viewer.get(f"/admin/cascades/scenario/{CART}/?state=<b>")
    unknown = viewer.get("/admin/cascades/scenario/nobody_runs_this/")

    assert all(f'data-run="{ids[k]}"' in every for k in ("converted", "other", "waiting"))
    assert f'data-run="{ids["running"]}"' not in every  # another scenario's run
    assert f'data-run="{ids["waiting"]}"' in running
    assert f'data-run="{ids["other"]}"' not in running
    assert "order-cust-1 (converted after step 2)" in every
    assert (
        nonsense.status_code == 400 and "is no run state; expected one of running" in nonsense.text
    )
    assert "<b>" not in nonsense.text  # escaped
    assert unknown.status_code == 404


def test_the_customer_page_shows_her_runs_sends_statuses_and_stop_reasons_masked(
    console_app: ConsoleApp,
) -> None:
    ids = seed(console_app)
    viewer = console_app.client("viewer")

    page = viewer.get("/admin/customers/?q=maria@example.com").text

    assert 'id="customer-cascades"' in page
    assert f'data-run="{ids["converted"]}" data-state="converted"' in page
    assert f'data-run="{ids["running"]}" data-state="running"' in page
    assert (
        "m***@example.com" in page
        and "<td>+7***67</td>" in page
        and "+79161234567</td>" not in page
    )
    assert 'skipped <span class="muted">(no consent)</span>' in page
    assert "<td>delivered</td>" in page and "<td>read</td>" in page
    assert "(converted after step 2)" in page
    assert "data-stop=" not in page  # a viewer gets no stop button


def test_an_operator_stops_a_running_run_once_audited_its_next_step_discarded_a_viewer_cannot(
    console_app: ConsoleApp,
) -> None:
    ids = seed(console_app)
    run = ids["running"]
    pending = console_app.services.queue.enqueue(
        STEP_KIND, {"run_id": run, "step": 2}, dedupe_key=keys.cascade_step(run, 2),
        run_at=time.time() + 3600,
    )  # fmt: skip
    operator, viewer = console_app.client("operator"), console_app.client("viewer")
    page = operator.get("/admin/customers/?q=maria@example.com").text
    assert f'data-stop="{run}"' in page
    token = csrf(page)
    viewer_token = csrf(viewer.get("/admin/cascades/").text)

    refused = viewer.post(f"/admin/cascades/run/{run}/stop", data={"csrf_token": viewer_token})
    tokenless = operator.post(f"/admin/cascades/run/{run}/stop", data={"back": "customer"})
    assert (refused.status_code, tokenless.status_code) == (403, 400)
    stopped = operator.post(
        f"/admin/cascades/run/{run}/stop", data={"csrf_token": token, "back": "customer"}
    )
    again = operator.post(f"/admin/cascades/run/{run}/stop", data={"csrf_token": token})
    missing = operator.post("/admin/cascades/run/999999/stop", data={"csrf_token": token})

    assert stopped.status_code == 303
    assert "/admin/customers/?" in stopped.headers["Location"]
    shown = operator.get(stopped.headers["Location"]).text
    assert "The run is stopped; no further step will be sent." in shown
    assert "stopped by operator" in shown
    assert "That run was not running any more" in operator.get(again.headers["Location"]).text
    assert missing.status_code == 404
    with console_app.services.engine.connect() as connection:
        row = connection.execute(select(cascade_runs).where(cascade_runs.c.id == run)).one()
        trail = connection.execute(
            select(admin_actions).where(admin_actions.c.action == "cascade.stop")
        ).all()
    assert (row.state, row.stop_reason) == ("stopped", "stopped by operator")
    assert row.ended_at is not None
    assert console_app.services.queue.get(pending)["state"] == "discarded"  # type: ignore[index]
    assert [(a.account, a.target) for a in trail] == [("operator", f"run {run}")]
