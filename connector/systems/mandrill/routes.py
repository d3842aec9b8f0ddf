"""Mandrill's webhook route, `HEAD/GET/POST /webhooks/mandrill` (its declaration's
`blueprint`): batches of message events, signed with the webhook's key over the URL and the
form fields; the HEAD (and a GET) is Mandrill's check when the webhook is added."""

from __future__ import annotations

from flask import Response, request

import webhooks
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.mandrill import webhooks as mandrill_webhooks
from connector.systems.mandrill.settings import MandrillSettings

SOURCE = "mandrill"
TASK = "mandrill.events"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.route("/mandrill", methods=["GET", "HEAD", "POST"])
def mandrill() -> tuple[Response, int]:
    """Message events: signature first (401, nothing stored), then the body (400 naming the
    field), then stored with one task for the batch."""
    if request.method != "POST":
        return webhooks.answer(200, SOURCE, "ok")
    settings = webhooks.services().settings.of(MandrillSettings)
    body = webhooks.body()
    fields = mandrill_webhooks.form_fields(body)
    url = settings.webhook_url or request.url
    if not settings.webhook_key:
        message = "CONNECTOR_MANDRILL_WEBHOOK_KEY is not set: no batch can be verified"
        return webhooks.refuse(401, SOURCE, "unauthorized", message)
    given = request.headers.get("X-Mandrill-Signature")
    if not given:
        return webhooks.refuse(401, SOURCE, "unauthorized", "X-Mandrill-Signature: missing")
    if not mandrill_webhooks.verify(settings.webhook_key, url, fields, given):
        return webhooks.refuse(401, SOURCE, "unauthorized", "X-Mandrill-Signature: does not match")
    try:
        events = mandrill_webhooks.parse_events(fields)
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    task = TaskSpec(TASK, {"events": events}) if events else None
    return webhooks.store(SOURCE, content_key(body), "mandrill_events", body, task)
