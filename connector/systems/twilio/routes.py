"""Twilio's webhook routes (its declaration's `blueprint`), both signed with X-Twilio-Signature:

- `POST /webhooks/twilio/status`: the StatusCallback of every message the connector sends;
- `POST /webhooks/twilio/inbound`: the number's "A message comes in" webhook (replies; STOP and
  START), answered with empty TwiML (nothing is replied: Twilio's own opt-out handling answers).
"""

from __future__ import annotations

from flask import Response, request

import webhooks
from connector import keys
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.twilio import webhooks as twilio_webhooks
from connector.systems.twilio.channel import INBOUND_PATH, STATUS_PATH, webhook_base
from connector.systems.twilio.settings import TwilioSettings

SOURCE = "twilio"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


def _read(path: str) -> tuple[dict[str, str], bytes, tuple[Response, int] | None]:
    """The form's fields and the body, and the refusal to answer when the signature does not
    hold (401, checked first) or the body is no form (400)."""
    services = webhooks.services()
    body = webhooks.body()
    try:
        fields = twilio_webhooks.form_fields(body)
    except PermanentError:
        fields = []
    query = request.query_string.decode("utf-8", "replace")
    configured = webhook_base(services.settings) + path + (f"?{query}" if query else "")
    given = request.headers.get("X-Twilio-Signature")
    token = services.settings.of(TwilioSettings).auth_token
    refusal = None
    if not given:
        refusal = webhooks.refuse(401, SOURCE, "unauthorized", "X-Twilio-Signature: missing")
    elif not twilio_webhooks.verify(token, (configured, request.url), fields, given):
        refusal = webhooks.refuse(401, SOURCE, "unauthorized", "X-Twilio-Signature: does not match")
    elif not fields:
        refusal = webhooks.refuse(400, SOURCE, "bad_request", "body: not a form")
    return dict(fields), body, refusal


@blueprint.post("/twilio/status")
def twilio_status() -> tuple[Response, int]:
    """A message's new status (MessageSid, MessageStatus, ErrorCode)."""
    fields, body, refusal = _read(STATUS_PATH)
    if refusal is not None:
        return refusal
    try:
        twilio_webhooks.required(fields, "MessageSid", "MessageStatus")
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    sid, status = fields["MessageSid"], fields["MessageStatus"]
    task = TaskSpec(
        "twilio.status",
        {
            "sid": sid,
            "status": status,
            "error_code": fields.get("ErrorCode") or None,
            "to": fields.get("To"),
        },
    )
    return webhooks.store(SOURCE, content_key(sid, status), f"status:{status}", body, task)


@blueprint.post("/twilio/inbound")
def twilio_inbound() -> tuple[Response, int]:
    """A message to the connector's number: STOP and START words change the sender's consent."""
    fields, body, refusal = _read(INBOUND_PATH)
    if refusal is not None:
        return refusal
    try:
        twilio_webhooks.required(fields, "MessageSid", "From")
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    word = twilio_webhooks.keyword(fields.get("Body", ""))
    opt_out_type = (fields.get("OptOutType") or "").lower()  # Advanced Opt-Out tells it
    if opt_out_type in ("stop", "start"):
        word = opt_out_type
    task = None
    if word is not None:
        task = TaskSpec(
            "twilio.inbound",
            {"sid": fields["MessageSid"], "from": fields["From"], "word": word},
            ordering_key=keys.record("sms", SOURCE, fields["From"]),
        )
    response, status = webhooks.store(
        SOURCE, fields["MessageSid"], f"inbound:{word or 'text'}", body, task
    )
    if status in (200, 202):
        return Response(EMPTY_TWIML, status=200, mimetype="text/xml"), 200
    return response, status
