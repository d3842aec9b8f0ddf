"""Mailchimp's webhook route, `GET/POST /webhooks/mailchimp/<secret>` (its declaration's
`blueprint`): audience events; the URL secret proves the sender, the GET is Mailchimp's check."""

from __future__ import annotations

from flask import Response, request

import webhooks
from connector import keys
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.mailchimp import webhooks as mailchimp_webhooks

SOURCE = "mailchimp"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.route("/mailchimp/<secret>", methods=["GET", "POST"])
def mailchimp(secret: str) -> tuple[Response, int]:
    """Audience events; the URL secret proves the sender, the GET is Mailchimp's check."""
    expected = webhooks.services().settings.mailchimp_webhook_secret
    if not mailchimp_webhooks.secret_matches(secret, expected):
        return webhooks.refuse(401, SOURCE, "unauthorized", "unknown webhook secret")
    if request.method == "GET":
        return webhooks.answer(200, SOURCE, "ok")
    body = webhooks.body()
    try:
        event = mailchimp_webhooks.parse_webhook(body)
    except PermanentError as error:
        form_type = request.form.get("type") if request.mimetype.endswith("urlencoded") else None
        if error.code == "unknown_type" and form_type:  # e.g. a future type: record, acknowledge
            return webhooks.store(SOURCE, content_key(body), form_type, body, None)
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if event.type == "campaign":
        return webhooks.store(SOURCE, event.dedupe_key, event.type, body, None)
    email = event.email
    if not email:
        return webhooks.refuse(400, SOURCE, "bad_request", "data[email]: missing")
    task = TaskSpec(
        "mailchimp.event",
        {"type": event.type, "fired_at": event.fired_at, "data": event.data},
        ordering_key=keys.member(email),
    )
    return webhooks.store(SOURCE, event.dedupe_key, event.type, body, task)
