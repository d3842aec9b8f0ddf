"""The shared intake of every webhook route: verify, store with its task, answer.

Each system's routes live in its own package (`connector/systems/<name>/routes.py`, a blueprint
made by `intake_blueprint` that its declaration names and the web app mounts from the registry).
A route never calls a remote system: it proves the delivery authentic (401 and nothing stored
otherwise, `refuse`), checks its shape (400 naming the field), records it with its task
(`store`, through `connector.inbound`) and answers within milliseconds. Unknown topics are
recorded and acknowledged, never failed. The flows do the rest from the queue.
"""

from __future__ import annotations

import hmac
import json
import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from connector.inbound import Inbound, TaskSpec
from connector.services import Services

log = logging.getLogger("connector.webhooks")

TOPIC_LENGTH = 100  # inbound_events.topic


def intake_blueprint(source: str, import_name: str) -> Blueprint:
    """A system's webhook routes, under `/webhooks` (`@routes.post("/<source>")`), answering a
    failing store with 503 and an unreadable body with 400 as every route does."""
    routes = Blueprint(f"webhooks_{source}", import_name, url_prefix="/webhooks")
    routes.register_error_handler(SQLAlchemyError, _store_unavailable)
    routes.register_error_handler(FutureTimeout, _store_unavailable)
    routes.register_error_handler(BadDelivery, _bad_delivery)
    return routes


def services() -> Services:
    """The process's services, as the web app holds them."""
    found: Services = current_app.extensions["connector"]
    return found


# the answers most deliveries get, written once
_PLAIN = {outcome: json.dumps({"status": outcome}) for outcome in ("accepted", "duplicate")}


def answer(status: int, source: str, outcome: str, **body: Any) -> tuple[Response, int]:
    """The JSON answer of a webhook route, counted by source and outcome."""
    metrics = services().metrics
    metrics.count(metrics.webhooks, source, outcome)
    plain = not body and outcome in _PLAIN
    text = _PLAIN[outcome] if plain else json.dumps({"status": outcome, **body})
    return Response(text, status=status, mimetype="application/json"), status


def refuse(status: int, source: str, error: str, message: str) -> tuple[Response, int]:
    """A delivery not taken (401 unauthenticated, 400 unreadable), logged with why."""
    log.warning("%s webhook refused (%s): %s", source, status, message)
    if status == 401:  # counted for the alerts' "burst of refused signatures"
        services().refusals.count(source)
    return answer(status, source, error, message=message)


class BadDelivery(Exception):
    """A delivery we cannot read; its message names the field, as the 400 answer does."""


def _source() -> str:
    return (request.path.split("/") + ["", "", "unknown"])[2]


def _store_unavailable(error: Exception) -> tuple[Response, int]:
    """The store failed or did not answer in time: 503 with Retry-After, so the sender (every
    source retries a 5xx, WooCommerce aside) delivers again; a delivery that was stored after
    all is then a harmless duplicate."""
    source = _source()
    log.error("%s webhook not acknowledged, the store failed: %s", source, error)
    response, status = answer(
        503, source, "unavailable", message="the store is unavailable; not acknowledged, retry"
    )
    response.headers["Retry-After"] = "5"
    return response, status


def _bad_delivery(error: BadDelivery) -> tuple[Response, int]:
    return refuse(400, _source(), "bad_request", str(error))


def body() -> bytes:
    """The raw body, checked to be UTF-8 (every source sends text). Flask answers 413 past
    CONNECTOR_WEBHOOK_MAX_BYTES before it is read."""
    raw = request.get_data(cache=True)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDelivery("body: not UTF-8 text") from None
    return raw


def headers() -> dict[str, str]:
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


def store(
    source: str, delivery_id: str, topic: str | None, raw: bytes, task: TaskSpec | None
) -> tuple[Response, int]:
    """Records the delivery with its task (group commit) and answers once it is durable:
    200 accepted, 200 duplicate, or 202 for a topic that is recorded but not synced."""
    kept = {k: v for k, v in headers().items() if not _is_secret_header(k)}
    topic = topic[:TOPIC_LENGTH] if topic else topic  # a label; a stranger's may be any length
    recorded = services().inbound.record(Inbound(source, delivery_id, topic, raw, kept, task))
    if recorded.duplicate:
        return answer(200, source, "duplicate")
    if not recorded.queued:
        return answer(202, source, "ignored", message=f"topic {topic!r} is recorded, not synced")
    return answer(200, source, "accepted")


def _is_secret_header(name: str) -> bool:
    return name.lower() in {"authorization", "cookie"}


def same(given: str | None, secret: str | None) -> bool:
    """A URL secret or token compared in constant time (never equal when either is empty)."""
    return (
        bool(given)
        and bool(secret)
        and hmac.compare_digest(str(given).encode(), str(secret).encode())
    )
