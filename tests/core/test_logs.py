"""What the logs say: no email survives the mask, and a normal wait is not called a failure."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from connector.identity import HUB, save_link
from connector.logs import JsonFormatter, MaskingFilter, mask
from connector.services import Services
from connector.store.tables import task_errors
from connector.worker import Worker
from tests.support import make_settings


@pytest.mark.parametrize(
    ("line", "hidden", "kept"),
    [
        ("sent to a@b.c today", "a@b.c", "a***@b.c"),  # a one-letter top-level domain
        ("sent to ann.lee@mail.x", "ann.lee@", "a***@mail.x"),
        ("élodie.dupont@exemple.fr subscribed", "lodie.dupont", "é***@exemple.fr"),
        ("new member анна@пример.рф", "анна@", "а***@пример.рф"),
        ("用户名@例子.广告", "用户名@", "用***@例子.广告"),
        ("GET /customers?email=ann.lee%40example.com", "ann.lee%40", "a***%40example.com"),
        ("bob_smith+shop@sub.example.co.uk", "bob_smith", "b***@sub.example.co.uk"),
    ],
)
def test_every_email_loses_all_but_its_first_letter(line, hidden, kept):
    masked = mask(line)
    assert hidden not in masked and kept in masked


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_emails_inside_json_strings_are_masked_however_the_json_was_escaped(ensure_ascii):
    body = json.dumps(
        {"billing": {"email": "a@b.c"}, "note": "write to\nélodie@exemple.fr", "to": "юля@x.y"},
        ensure_ascii=ensure_ascii,
    )
    masked = mask(f"refused body {body}")
    assert "a@b.c" not in masked and "lodie@" not in masked
    assert "\\u044e\\u043b\\u044f@" not in masked and "юля@" not in masked
    assert masked.count("***") == 3
    assert json.loads(masked.removeprefix("refused body "))["billing"]["email"] == "a***@b.c"


def test_what_is_not_an_email_is_left_alone():
    line = "alembic 1.2@3.4 pkg@1.0.0a user@localhost 50% off"
    assert mask(line) == line


def test_a_log_record_is_masked_before_any_formatter_sees_it(caplog):
    logger = logging.getLogger("connector.test_logs")
    handler = caplog.handler
    handler.addFilter(MaskingFilter(secrets=["s3cr3t-token"]))
    handler.setFormatter(JsonFormatter())
    try:
        with caplog.at_level(logging.INFO, logger="connector.test_logs"):
            logger.info("member %s refused: %s", "a@b.c", '{"email":"ann@b.c","t":"s3cr3t-token"}')
    finally:
        handler.filters.clear()
    [record] = caplog.records
    line = json.loads(handler.format(record))["message"]
    assert line == 'member a***@b.c refused: {"email":"a***@b.c","t":"***"}'


def test_a_deal_waiting_for_its_contact_is_logged_as_a_wait_not_a_failed_attempt(tmp_path, caplog):
    services = Services(
        make_settings(tmp_path, bitrix24_webhook_url="https://crm.example/rest/1/abcdef/")
    )
    order = {"id": "o1", "customer_id": "c1", "number": "1001"}
    save_link(services.engine, "order", "o1", HUB, "o1", data=order)
    task_id = services.queue.enqueue("push.bitrix24.deal", {"id": "o1"})
    worker = Worker(services)
    [task] = services.queue.claim(worker.name)

    with caplog.at_level(logging.INFO, logger="connector"):
        assert not worker.execute(task)

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "connector.worker"]
    assert lines == [
        (
            logging.INFO,
            f"task {task_id} push.bitrix24.deal waiting for the contact of order o1; again in 3.0s",
        )
    ]
    assert services.queue.get(task_id)["attempts"] == 0  # no attempt was counted
    services.close()


def test_a_wait_leaves_no_row_in_the_tasks_error_history(tmp_path):
    services = Services(
        make_settings(tmp_path, bitrix24_webhook_url="https://crm.example/rest/1/abcdef/")
    )
    save_link(services.engine, "order", "o1", HUB, "o1", data={"id": "o1", "customer_id": "c1"})
    task_id = services.queue.enqueue("push.bitrix24.deal", {"id": "o1"})
    worker = Worker(services)
    [task] = services.queue.claim(worker.name)
    assert not worker.execute(task)

    with services.engine.connect() as connection:
        rows = connection.execute(select(task_errors).where(task_errors.c.task_id == task_id)).all()
    assert rows == []  # `connector dlq show` lists failures, never waits
    assert "waiting for the contact" in services.queue.get(task_id)["last_error"]
    services.close()
