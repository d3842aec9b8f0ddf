"""The generic shop contract's webhook route, `POST /webhooks/shop` (its declaration's
`blueprint`): signed JSON events of custom sites and POS systems (docs/shop-webhooks.md)."""

from __future__ import annotations

from flask import Response, request

import webhooks
from connector import keys
from connector.inbound import TaskSpec
from connector.safe_input import load_json
from connector.systems import shop
from connector.systems.shop.settings import ShopSettings

SOURCE = "shop"
ENTITIES = ("customer", "order", "cart")

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.post("/shop")
def generic_shop() -> tuple[Response, int]:
    """The documented JSON contract for custom sites and POS systems (Standard Webhooks)."""
    body = request.get_data(cache=True)  # signed as bytes: checked before it is read as text
    headers = {k.lower(): v for k, v in webhooks.headers().items()}
    secret = webhooks.services().settings.of(ShopSettings).webhook_secret
    problem = shop.verify(secret, headers, body)
    if problem:
        return webhooks.refuse(401, SOURCE, "unauthorized", problem)
    try:
        event = shop.parse_event(load_json(body))
    except ValueError as error:  # BadBody too: each names the field
        return webhooks.refuse(400, SOURCE, "bad_request", str(error))
    entity, _, action = event["type"].partition(".")
    entity_id = str(event["data"]["id"])
    task = None
    if entity in ENTITIES:
        task = TaskSpec(
            f"shop.{entity}",
            {
                "type": event["type"],
                "action": action,
                "data": event["data"],
                "occurred_at": event.get("occurred_at"),
            },
            ordering_key=keys.record(entity, SOURCE, entity_id),
        )
    return webhooks.store(SOURCE, headers["webhook-id"], event["type"], body, task)
