"""The console's story in a real browser (issue 14): an order the mappings cannot read dies; the
operator finds the customer by phone and opens the letter; the admin fixes the mapping in the
editor (an invalid edit is refused with its line); the operator replays it and the deal appears
in the sandbox's Bitrix24. A viewer is refused the replay (403), a form without its CSRF token
too (400). Each page is saved to var/screenshots/."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

from connector.config import load_settings
from connector.systems import shop
from connector.worker import Worker
from tests.admin.conftest import Console, build, own_env
from tests.admin.live import served
from tests.support import free_port

SHOP_SECRET = "whsec_c2hvcC1zZWNyZXQta2V5LWZvci1hZG1pbg=="
ORDER = {
    "id": "SITE-41",
    "number": "41",
    "status": "zahlung-ok",  # a word of this site's that mappings/shop/order_status.yaml lacks
    "currency": "RUB",
    "totals": {"total": "2400.00"},
    "customer": {
        "id": "C-41",
        "phone": "+79165550123",
        "email": "anna.petrova@example.com",
        "first_name": "Анна",
        "last_name": "Петрова",
    },
    "lines": [
        {
            "id": "1",
            "sku": "MUG",
            "name": "Кружка",
            "quantity": 2,
            "price": "1200.00",
            "total": "2400.00",
        }
    ],
    "updated_at": "2026-12-01T10:00:00+00:00",
}
STATUS_FILE = "shop/order_status.yaml"


def send_order(console: Console) -> None:
    body = json.dumps({"type": "order.created", "data": ORDER}).encode()
    message_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    answer = console.app.test_client().post(
        "/webhooks/shop",
        data=body,
        headers={
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": shop.sign(SHOP_SECRET, message_id, stamp, body),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code in (200, 202), answer.get_data(as_text=True)


class Inbox:
    """Mails the local SMTP server received."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.mails.append(message_from_bytes(envelope.content or b"", policy=default))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def alerts_env(port: int) -> dict[str, str]:
    return {
        "CONNECTOR_ALERTS_EMAIL_TO": "ops@example.com",
        "CONNECTOR_ALERTS_SMTP_HOST": "127.0.0.1",
        "CONNECTOR_ALERTS_SMTP_PORT": str(port),
        "CONNECTOR_ALERTS_SMTP_SECURITY": "none",
    }


HAS_ALERTS = importlib.util.find_spec("connector.alerts") is not None


def csrf_of(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))


def test_an_operator_finds_the_dead_order_the_admin_fixes_the_mapping_and_the_replay_lands(
    browser: Any, fresh_sandbox: Any, webhook_sink: Any, tmp_path: Path
) -> None:
    env = own_env(tmp_path) | fresh_sandbox.settings_env()
    env |= {
        "CONNECTOR_SHOP_WEBHOOK_SECRET": SHOP_SECRET,
        "CONNECTOR_SHOP_CALLBACK_URL": f"{webhook_sink.url}/shop-callbacks",
        "CONNECTOR_QUEUE_BACKOFF_BASE": "0.01",
        "CONNECTOR_QUEUE_BACKOFF_MAX": "0.05",
    }
    with (
        smtp_server() as (inbox, smtp_port),
        served(
            build(
                load_settings(
                    env=env | (alerts_env(smtp_port) if HAS_ALERTS else {}), env_file=None
                )
            ),
            browser,
            fresh_sandbox,
        ) as console,
    ):
        services = console.services
        worker = Worker(services, threads=1, name="story")
        operator = console.page("operator")

        # A mapping error puts the order in the dead letters.
        send_order(console)
        worker.run_until_idle(timeout=20)
        [letter] = services.queue.dead_letters()
        assert "zahlung-ok" in (letter["last_error"] or "")
        if HAS_ALERTS:  # the alert engine (connector/alerts) mails the dead letters' digest
            from connector.alerts.evaluate import evaluate

            evaluate(services)
            assert len(inbox.mails) == 1
            mail = inbox.mails[0]
            assert mail["To"] == "ops@example.com"
            assert "dead letter" in (str(mail["Subject"]) + str(mail.get_body())).lower()
        operator.goto("/admin/overview/")
        assert operator.locator("#dead-count").inner_text() == "1"
        console.shot(operator, "admin-overview")

        # The operator finds the customer by the phone as they heard it, and opens the letter.
        operator.goto("/admin/customers/")
        operator.fill("input[name=q]", "8 (916) 555-01-23")
        operator.click("button:text-is('Find')")
        timeline = operator.locator("#timeline")
        assert "zahlung-ok" in timeline.inner_text()
        console.shot(operator, "admin-customer-search")
        timeline.locator(f"a:text-is('{letter['id']}')").click()
        operator.wait_for_url(f"**/admin/dead-letters/{letter['id']}")
        assert "anna.petrova@example.com" not in operator.locator("#payload").inner_text()
        assert operator.locator("#attempts tbody tr").count() == 1
        console.shot(operator, "admin-dead-letter")

        # A viewer may look but not replay; a form without its CSRF token is refused.
        viewer = console.page("viewer")
        viewer.goto(f"/admin/dead-letters/{letter['id']}")
        assert viewer.locator("a:text-is('Replay')").count() == 0
        refused = viewer.request.post(
            f"{console.url}/admin/dead-letters/replay",
            form={"id": str(letter["id"]), "csrf_token": csrf_of(viewer)},
        )
        assert refused.status == 403
        forged = operator.request.post(
            f"{console.url}/admin/dead-letters/replay", form={"id": str(letter["id"])}
        )
        assert forged.status == 400
        assert services.queue.get(letter["id"])["state"] == "dead"

        # The admin fixes the mapping in the editor: a broken edit is refused at its line.
        admin = console.page("admin")
        admin.goto(f"/admin/mappings/file/{STATUS_FILE}")
        original = (services.mappings_path / STATUS_FILE).read_text()
        admin.fill("#mapping-text", original.replace("in:\n", "in:\n  zahlung-ok: [\n", 1))
        admin.click("#save")
        assert admin.locator("#problems li").count() >= 1
        assert (services.mappings_path / STATUS_FILE).read_text() == original
        console.shot(admin, "admin-mapping-refused")
        admin.fill("#mapping-text", original.replace("in:\n", "in:\n  zahlung-ok: processing\n", 1))
        admin.click("#save")
        admin.wait_for_url("**/admin/mappings/versions/**")
        assert "zahlung-ok: processing" in (services.mappings_path / STATUS_FILE).read_text()

        # The operator replays the letter, after a confirmation; the deal lands in Bitrix24.
        operator.click("a:text-is('Replay')")
        assert "Replay 1 dead letter(s)?" in operator.locator("h1").inner_text()
        console.shot(operator, "admin-replay-confirm")
        operator.click("button:text-is('Yes, replay')")
        assert "Replayed 1 dead letter(s)." in operator.locator(".flash").inner_text()
        worker.run_until_idle(timeout=20)
        assert services.queue.dead_letters() == []
        deals = fresh_sandbox.control("bitrix24", "GET", "/state").json()["deals"]
        assert len(deals) == 1 and deals[0]["STAGE_ID"] == "EXECUTING"

        # The customer's page now shows the deal's stage; the trail names who did what.
        operator.goto("/admin/customers/?q=%2B7%20916%20555%2001%2023")
        assert "Анна Петрова" in operator.locator("h2.name").inner_text()
        deal_line = operator.locator("#orders div[data-system=bitrix24]")
        assert f"bitrix24 {deals[0]['ID']}: processing" in deal_line.inner_text()
        link = deal_line.locator("a").get_attribute("href")
        assert link is not None and link.endswith(f"/crm/deal/details/{deals[0]['ID']}/")
        console.shot(operator, "admin-customer")
        admin.goto("/admin/audit/")
        trail = admin.locator("#trail").inner_text()
        assert "dead-letter-replay" in trail and "mapping.save" in trail
        console.shot(admin, "admin-audit")
