"""The dead letters page: filters, one letter with masked payload, replay and discard."""

from __future__ import annotations

from tests.admin.conftest import ConsoleApp, csrf
from tests.admin.support import make_dead_letter


def test_the_list_filters_by_system_kind_and_error(console_app: ConsoleApp) -> None:
    services = console_app.services
    b24 = make_dead_letter(services, "push.bitrix24.deal", {"order": "1"}, "stage PAID unknown")
    mc = make_dead_letter(services, "push.mailchimp.member", {"email": "a@b.example"}, "400")
    client = console_app.client("viewer")
    everything = client.get("/admin/dead-letters/").text
    assert f'data-task="{b24}"' in everything and f'data-task="{mc}"' in everything
    by_system = client.get("/admin/dead-letters/?system=bitrix24").text
    assert f'data-task="{b24}"' in by_system and f'data-task="{mc}"' not in by_system
    by_kind = client.get("/admin/dead-letters/?kind=push.mailchimp.member").text
    assert f'data-task="{mc}"' in by_kind and f'data-task="{b24}"' not in by_kind
    by_error = client.get("/admin/dead-letters/?error=stage%20paid").text
    assert f'data-task="{b24}"' in by_error and f'data-task="{mc}"' not in by_error


def test_a_letter_shows_every_attempt_and_masks_phones_and_emails(
    console_app: ConsoleApp,
) -> None:
    payload = {"email": "maria.ivanova@example.com", "phone": "+7 916 123-45-67"}
    task_id = make_dead_letter(
        console_app.services, "shop.customer", payload, "no contact for maria.ivanova@example.com"
    )
    page = console_app.client("viewer").get(f"/admin/dead-letters/{task_id}").text
    assert "maria.ivanova@example.com" not in page and "123-45-67" not in page
    assert "m***@example.com" in page
    assert 'id="attempts"' in page and "PermanentError" in page


def test_a_viewer_may_not_replay_and_an_operator_replays_after_confirming(
    console_app: ConsoleApp,
) -> None:
    services = console_app.services
    task_id = make_dead_letter(services, "push.bitrix24.deal", {"order": "1"})
    viewer = console_app.client("viewer")
    token = csrf(viewer.get("/admin/overview/").text)
    refused = viewer.post("/admin/dead-letters/replay", data={"id": task_id, "csrf_token": token})
    assert refused.status_code == 403
    assert services.queue.get(task_id)["state"] == "dead"

    operator = console_app.client("operator")
    confirm = operator.get(f"/admin/dead-letters/confirm/replay?id={task_id}")
    assert "Replay 1 dead letter(s)?" in confirm.text
    done = operator.post(
        "/admin/dead-letters/replay", data={"id": task_id, "csrf_token": csrf(confirm.text)}
    )
    assert done.status_code == 303
    assert services.queue.get(task_id)["state"] == "queued"
    assert "Replayed 1 dead letter(s)." in operator.get(done.headers["Location"]).text
    trail = console_app.accounts.engine
    from connector.store.tables import admin_actions

    with trail.connect() as connection:
        rows = connection.execute(admin_actions.select()).mappings().all()
    assert any(r["account"] == "operator" and r["action"] == "dead-letter-replay" for r in rows)


def test_discarding_all_that_match_leaves_the_others(console_app: ConsoleApp) -> None:
    services = console_app.services
    keep = make_dead_letter(services, "push.mailchimp.member", {"x": 1})
    drop = [make_dead_letter(services, "push.bitrix24.deal", {"n": n}) for n in range(3)]
    operator = console_app.client("operator")
    confirm = operator.get("/admin/dead-letters/confirm/discard?system=bitrix24")
    assert "Discard 3 dead letter(s) for good?" in confirm.text
    operator.post(
        "/admin/dead-letters/discard",
        data={"system": "bitrix24", "csrf_token": csrf(confirm.text)},
    )
    assert [services.queue.get(i)["state"] for i in drop] == ["discarded"] * 3
    assert services.queue.get(keep)["state"] == "dead"


def test_a_letter_that_does_not_exist_is_a_404_page(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    for task_id in ("12345", "99999999999999999999999"):
        answer = viewer.get(f"/admin/dead-letters/{task_id}")
        assert answer.status_code == 404 and "Not found." in answer.text
