"""WooCommerce's webhook route, `POST /webhooks/woocommerce` (its declaration's `blueprint`)."""

from __future__ import annotations

from flask import Response, request

import webhooks
from connector import keys
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.woocommerce.webhooks import parse_delivery, verify_webhook_signature

SOURCE = "woocommerce"
TASKS = {
    "order": "woocommerce.order",
    "customer": "woocommerce.customer",
    "product": "woocommerce.product",
    "coupon": "woocommerce.coupon",
}

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.post("/woocommerce")
def woocommerce() -> tuple[Response, int]:
    """Order, customer and product deliveries: each a trigger to re-read the resource."""
    body = request.get_data(cache=True)  # signed as bytes: checked before it is read as text
    headers = webhooks.headers()
    if "X-Wc-Webhook-Topic" not in headers and body.startswith(b"webhook_id="):
        return webhooks.answer(200, SOURCE, "ping")
    secret = webhooks.services().settings.woocommerce_webhook_secret
    if not verify_webhook_signature(body, headers.get("X-Wc-Webhook-Signature"), secret):
        return webhooks.refuse(401, SOURCE, "unauthorized", "bad X-WC-Webhook-Signature")
    try:
        delivery = parse_delivery(body, headers)
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    kind = TASKS.get(delivery.resource)
    if kind is not None and delivery.resource_id is None:
        return webhooks.refuse(400, SOURCE, "bad_request", "id: missing or not a number")
    task = None
    if kind is not None:
        task = TaskSpec(
            kind,
            {
                "id": delivery.resource_id,
                "topic": delivery.topic,
                "event": delivery.event,
                "modified": delivery.payload.get("date_modified_gmt"),
            },
            ordering_key=keys.record(delivery.resource, SOURCE, delivery.resource_id),
        )
    # The delivery id changes on every attempt: topic + id + modified time is the event, and
    # the body tells apart two changes within one second (WooCommerce keeps whole seconds).
    event_key = f"{delivery.dedupe_key}:{content_key(body)[:16]}"
    return webhooks.store(SOURCE, event_key, delivery.topic, body, task)
