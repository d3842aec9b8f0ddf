"""CDEK's webhook route, `POST /webhooks/cdek/<secret>` (its declaration's `blueprint`):
ORDER_STATUS pushes; CDEK signs nothing, so a secret in the URL proves the sender."""

from __future__ import annotations

from flask import Response

import webhooks
from connector import keys
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.cdek import parse_status_webhook, webhook_type
from connector.systems.cdek.settings import CdekSettings

SOURCE = "cdek"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.post("/cdek/<secret>")
def cdek(secret: str) -> tuple[Response, int]:
    """ORDER_STATUS pushes: CDEK signs nothing, so a secret in the URL proves the sender."""
    if not webhooks.same(secret, webhooks.services().settings.of(CdekSettings).webhook_secret):
        return webhooks.refuse(401, SOURCE, "unauthorized", "unknown webhook secret")
    body = webhooks.body()
    try:
        status = parse_status_webhook(body)
    except PermanentError as error:
        topic = webhook_type(body) if error.code == "other_type" else None
        if topic:  # another CDEK webhook type (PRINT_FORM, DOWNLOAD_PHOTO): record only
            return webhooks.store(SOURCE, content_key(body), topic, body, None)
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if not status.order_uuid or not status.code:
        return webhooks.refuse(400, SOURCE, "bad_request", "uuid or attributes.code: missing")
    task = TaskSpec(
        "cdek.status",
        {
            "uuid": status.order_uuid,
            "code": status.code,
            "status_at": status.status_at,
            "cdek_number": status.cdek_number,
            "number": status.number,
        },
        ordering_key=keys.record("shipment", SOURCE, status.order_uuid),
    )
    return webhooks.store(
        SOURCE,
        content_key(status.order_uuid, status.code, status.status_at),
        "ORDER_STATUS",
        body,
        task,
    )
