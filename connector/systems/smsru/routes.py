"""SMS.ru's status callback route, `POST /webhooks/smsru/<secret>` (its declaration's
`blueprint`): the URL secret proves the sender, a `hash` present must match, and the answer is
the `100` SMS.ru waits for."""

from __future__ import annotations

from flask import Response

import webhooks
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.smsru.settings import SmsruSettings
from connector.systems.smsru.webhooks import hash_matches, parse_callback

SOURCE = "smsru"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.post("/smsru/<secret>")
def smsru(secret: str) -> tuple[Response, int]:
    """Delivery statuses of sent SMS, up to 100 entries a POST."""
    settings = webhooks.services().settings.of(SmsruSettings)
    if not webhooks.same(secret, settings.webhook_secret):
        return webhooks.refuse(401, SOURCE, "unauthorized", "unknown webhook secret")
    body = webhooks.body()
    try:
        callback = parse_callback(body)
        statuses = callback.statuses()
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if not hash_matches(settings.api_id, callback):
        return webhooks.refuse(401, SOURCE, "unauthorized", "hash: does not match")
    task = None
    if statuses:
        task = TaskSpec(
            "smsru.status",
            {"statuses": [{"sms_id": s.sms_id, "code": s.code, "at": s.at} for s in statuses]},
        )
    topic = "sms_status" if statuses else "other"
    response, status = webhooks.store(SOURCE, content_key(*callback.entries), topic, body, task)
    if status in (200, 202):  # SMS.ru repeats the callback until it reads `100`
        return Response("100", status=200, mimetype="text/plain"), 200
    return response, status
