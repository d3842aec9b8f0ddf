"""Flask webhook endpoints: verify, validate, store and enqueue in one transaction, then 2xx.

One route per source. A route never calls a remote system: it proves the delivery authentic
(401 and nothing stored otherwise), checks its shape (400 naming the field), records it with
its task (`connector.inbound`) and answers within milliseconds. Unknown topics are recorded
and acknowledged, never failed. The flows do the rest from the queue.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from connector import keys
from connector.errors import PermanentError
from connector.inbound import Inbound, TaskSpec, content_key
from connector.safe_input import load_json
from connector.services import Services
from connector.systems import shop
from connector.systems.bitrix24 import events as bitrix24_events
from connector.systems.bitrix24.credentials import TableTokenStore
from connector.systems.cdek import parse_status_webhook, webhook_type
from connector.systems.mailchimp import webhooks as mailchimp_webhooks
from connector.systems.woocommerce.webhooks import parse_delivery, verify_webhook_signature

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger("connector.webhooks")

WOOCOMMERCE_TASKS = {
    "order": "woocommerce.order",
    "customer": "woocommerce.customer",
    "product": "woocommerce.product",
}
BITRIX24_ENTITIES = {"CONTACT": "contact", "DEAL": "deal"}
BITRIX24_ACTIONS = {"ADD", "UPDATE", "DELETE", "MOVETOCATEGORY"}
TOPIC_LENGTH = 100  # inbound_events.topic


def _services() -> Services:
    return current_app.extensions["connector"]


def _answer(status: int, source: str, outcome: str, **body: Any) -> tuple[Response, int]:
    _services().metrics.webhooks.labels(source, outcome).inc()
    text = json.dumps({"status": outcome, **body})
    return Response(text, status=status, mimetype="application/json"), status


def _refuse(status: int, source: str, error: str, message: str) -> tuple[Response, int]:
    log.warning("%s webhook refused (%s): %s", source, status, message)
    return _answer(status, source, error, message=message)


class BadDelivery(Exception):
    """A delivery we cannot read; its message names the field, as the 400 answer does."""


@blueprint.errorhandler(SQLAlchemyError)
@blueprint.errorhandler(FutureTimeout)
def _store_unavailable(error: Exception) -> tuple[Response, int]:
    """The store failed or did not answer in time: 503 with Retry-After, so the sender (every
    source retries a 5xx, WooCommerce aside) delivers again; a delivery that was stored after
    all is then a harmless duplicate."""
    source = (request.path.split("/") + ["", "", "unknown"])[2]
    log.error("%s webhook not acknowledged, the store failed: %s", source, error)
    response, status = _answer(
        503, source, "unavailable", message="the store is unavailable; not acknowledged, retry"
    )
    response.headers["Retry-After"] = "5"
    return response, status


@blueprint.errorhandler(BadDelivery)
def _bad_delivery(error: BadDelivery) -> tuple[Response, int]:
    source = (request.path.split("/") + ["", "", "unknown"])[2]
    return _refuse(400, source, "bad_request", str(error))


def _body() -> bytes:
    """The raw body, checked to be UTF-8 (every source sends text). Flask answers 413 past
    CONNECTOR_WEBHOOK_MAX_BYTES before it is read."""
    body = request.get_data(cache=True)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDelivery("body: not UTF-8 text") from None
    return body


def _headers() -> dict[str, str]:
    """The request's headers as a plain dict (`X-Wc-Webhook-Topic` spelling), built once per
    request straight from the WSGI environ: several times cheaper than iterating
    `request.headers`, which matters at a thousand webhooks a second."""
    environ = request.environ
    cached = environ.get("connector.headers")
    if cached is None:
        cached = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                cached[key.replace("_", "-").title()] = environ[key]
        environ["connector.headers"] = cached
    return cached


def _store(
    source: str, delivery_id: str, topic: str | None, body: bytes, task: TaskSpec | None
) -> tuple[Response, int]:
    headers = {k: v for k, v in _headers().items() if not _is_secret_header(k)}
    topic = topic[:TOPIC_LENGTH] if topic else topic  # a label; a stranger's may be any length
    recorded = _services().inbound.record(Inbound(source, delivery_id, topic, body, headers, task))
    if recorded.duplicate:
        return _answer(200, source, "duplicate")
    if not recorded.queued:
        return _answer(202, source, "ignored", message=f"topic {topic!r} is recorded, not synced")
    return _answer(200, source, "accepted")


def _is_secret_header(name: str) -> bool:
    return name.lower() in {"authorization", "cookie"}


def _same(given: str | None, secret: str | None) -> bool:
    return (
        bool(given)
        and bool(secret)
        and hmac.compare_digest(str(given).encode(), str(secret).encode())
    )


# --------------------------------------------------------------------------- WooCommerce


@blueprint.post("/woocommerce")
def woocommerce() -> tuple[Response, int]:
    """Order, customer and product deliveries: each a trigger to re-read the resource."""
    body = request.get_data(cache=True)  # signed as bytes: checked before it is read as text
    headers = _headers()
    if "X-Wc-Webhook-Topic" not in headers and body.startswith(b"webhook_id="):
        return _answer(200, "woocommerce", "ping")
    secret = _services().settings.woocommerce_webhook_secret
    if not verify_webhook_signature(body, headers.get("X-Wc-Webhook-Signature"), secret):
        return _refuse(401, "woocommerce", "unauthorized", "bad X-WC-Webhook-Signature")
    try:
        delivery = parse_delivery(body, headers)
    except PermanentError as error:
        return _refuse(400, "woocommerce", "bad_request", error.args[0])
    kind = WOOCOMMERCE_TASKS.get(delivery.resource)
    if kind is not None and delivery.resource_id is None:
        return _refuse(400, "woocommerce", "bad_request", "id: missing or not a number")
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
            ordering_key=keys.record(delivery.resource, "woocommerce", delivery.resource_id),
        )
    # The delivery id changes on every attempt: topic + id + modified time is the event, and
    # the body tells apart two changes within one second (WooCommerce keeps whole seconds).
    event_key = f"{delivery.dedupe_key}:{content_key(body)[:16]}"
    return _store("woocommerce", event_key, delivery.topic, body, task)


# --------------------------------------------------------------------------- Bitrix24


def _bitrix24_token() -> str | None:
    services = _services()
    return bitrix24_events.expected_application_token(
        services.settings.bitrix24_application_token, TableTokenStore(services.engine)
    )


@blueprint.post("/bitrix24")
def bitrix24() -> tuple[Response, int]:
    """CRM events: they carry only an id and are never re-sent, so they are stored at once.

    The token is checked before the body is parsed: a stranger's delivery is refused unread.
    """
    body = _body()
    content_type = request.content_type or ""
    try:
        name, token = bitrix24_events.read_credentials(body, content_type)
    except PermanentError as error:
        return _refuse(400, "bitrix24", "bad_request", error.args[0])
    if name == "ONAPPINSTALL":
        if not _services().settings.bitrix24_client_id:
            return _refuse(401, "bitrix24", "unauthorized", "no OAuth app is configured")
    elif not bitrix24_events.token_matches(token, _bitrix24_token() or ""):
        return _refuse(401, "bitrix24", "unauthorized", "auth[application_token] does not match")
    try:
        event = bitrix24_events.parse_event(body, content_type)
    except PermanentError as error:
        return _refuse(400, "bitrix24", "bad_request", error.args[0])
    if event.name == "ONAPPINSTALL":
        return _bitrix24_install(event, body)
    entity = _bitrix24_entity(event.name)
    if entity is not None and not event.entity_id:
        return _refuse(400, "bitrix24", "bad_request", "data[FIELDS][ID]: missing")
    task = None
    if entity is not None:
        task = TaskSpec(
            "bitrix24.event",
            {"event": event.name, "entity": entity, "id": event.entity_id, "ts": event.ts},
            ordering_key=keys.record(entity, "bitrix24", event.entity_id),
        )
    # Bitrix24 never re-sends an event, and two changes of one deal within a second (our write
    # and a manager's stage move) send identical bodies: the time of arrival keeps them apart.
    # A true duplicate is harmless, since the flow reads the entity fresh and drops echoes.
    delivery_id = content_key(event.name, event.entity_id, event.ts, event.handler_id)
    return _store("bitrix24", f"{delivery_id}:{time.time_ns()}", event.name, body, task)


def _bitrix24_entity(event_name: str) -> str | None:
    """`ONCRMDEALUPDATE` -> `deal`; None for events we do not sync. A deal moved to another
    funnel (`ONCRMDEALMOVETOCATEGORY`) changed its stage: it is read fresh like an update."""
    for marker, entity in BITRIX24_ENTITIES.items():
        action = event_name.removeprefix(f"ONCRM{marker}")
        if action != event_name and action in BITRIX24_ACTIONS:
            return entity
    return None


def _bitrix24_install(event: bitrix24_events.Event, body: bytes) -> tuple[Response, int]:
    """ONAPPINSTALL brings the app's tokens: accepted when an OAuth app is configured and no
    other app's `application_token` is stored already."""
    settings = _services().settings
    try:
        credentials = bitrix24_events.install_credentials(event)
    except PermanentError as error:
        return _refuse(400, "bitrix24", "bad_request", error.args[0])
    if not settings.bitrix24_client_id or not credentials.get("application_token"):
        return _refuse(401, "bitrix24", "unauthorized", "no OAuth app is configured")
    store = TableTokenStore(_services().engine)
    stored = store.load() or {}
    known = stored.get("application_token")
    if known and not _same(credentials["application_token"], known):
        return _refuse(401, "bitrix24", "unauthorized", "another app is already installed")
    store.save({**stored, **credentials})
    return _store(
        "bitrix24",
        content_key("ONAPPINSTALL", event.ts, event.member_id),
        "ONAPPINSTALL",
        body,
        None,
    )


# --------------------------------------------------------------------------- Mailchimp


@blueprint.route("/mailchimp/<secret>", methods=["GET", "POST"])
def mailchimp(secret: str) -> tuple[Response, int]:
    """Audience events; the URL secret proves the sender, the GET is Mailchimp's check."""
    if not mailchimp_webhooks.secret_matches(secret, _services().settings.mailchimp_webhook_secret):
        return _refuse(401, "mailchimp", "unauthorized", "unknown webhook secret")
    if request.method == "GET":
        return _answer(200, "mailchimp", "ok")
    body = _body()
    try:
        event = mailchimp_webhooks.parse_webhook(body)
    except PermanentError as error:
        form_type = request.form.get("type") if request.mimetype.endswith("urlencoded") else None
        if error.code == "unknown_type" and form_type:  # e.g. a future type: record, acknowledge
            return _store("mailchimp", content_key(body), form_type, body, None)
        return _refuse(400, "mailchimp", "bad_request", error.args[0])
    if event.type == "campaign":
        return _store("mailchimp", event.dedupe_key, event.type, body, None)
    email = event.email
    if not email:
        return _refuse(400, "mailchimp", "bad_request", "data[email]: missing")
    task = TaskSpec(
        "mailchimp.event",
        {"type": event.type, "fired_at": event.fired_at, "data": event.data},
        ordering_key=keys.member(email),
    )
    return _store("mailchimp", event.dedupe_key, event.type, body, task)


# --------------------------------------------------------------------------- CDEK


@blueprint.post("/cdek/<secret>")
def cdek(secret: str) -> tuple[Response, int]:
    """ORDER_STATUS pushes: CDEK signs nothing, so a secret in the URL proves the sender."""
    if not _same(secret, _services().settings.cdek_webhook_secret):
        return _refuse(401, "cdek", "unauthorized", "unknown webhook secret")
    body = _body()
    try:
        status = parse_status_webhook(body)
    except PermanentError as error:
        topic = webhook_type(body) if error.code == "other_type" else None
        if topic:  # another CDEK webhook type (PRINT_FORM, DOWNLOAD_PHOTO): record only
            return _store("cdek", content_key(body), topic, body, None)
        return _refuse(400, "cdek", "bad_request", error.args[0])
    if not status.order_uuid or not status.code:
        return _refuse(400, "cdek", "bad_request", "uuid or attributes.code: missing")
    task = TaskSpec(
        "cdek.status",
        {
            "uuid": status.order_uuid,
            "code": status.code,
            "status_at": status.status_at,
            "cdek_number": status.cdek_number,
            "number": status.number,
        },
        ordering_key=keys.record("shipment", "cdek", status.order_uuid),
    )
    return _store(
        "cdek",
        content_key(status.order_uuid, status.code, status.status_at),
        "ORDER_STATUS",
        body,
        task,
    )


# --------------------------------------------------------------------------- generic shop


SHOP_ENTITIES = ("customer", "order", "cart")


@blueprint.post("/shop")
def generic_shop() -> tuple[Response, int]:
    """The documented JSON contract for custom sites and POS systems (Standard Webhooks)."""
    body = request.get_data(cache=True)  # signed as bytes: checked before it is read as text
    headers = {k.lower(): v for k, v in _headers().items()}
    problem = shop.verify(_services().settings.shop_webhook_secret, headers, body)
    if problem:
        return _refuse(401, "shop", "unauthorized", problem)
    try:
        event = shop.parse_event(load_json(body))
    except ValueError as error:  # BadBody too: each names the field
        return _refuse(400, "shop", "bad_request", str(error))
    entity, _, action = event["type"].partition(".")
    entity_id = str(event["data"]["id"])
    task = None
    if entity in SHOP_ENTITIES:
        task = TaskSpec(
            f"shop.{entity}",
            {
                "type": event["type"],
                "action": action,
                "data": event["data"],
                "occurred_at": event.get("occurred_at"),
            },
            ordering_key=keys.record(entity, "shop", entity_id),
        )
    return _store("shop", headers["webhook-id"], event["type"], body, task)
