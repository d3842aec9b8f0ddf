"""The Kaspi price list's route, `GET /feeds/kaspi/<token>.xml` (its declaration's `blueprint`).

Kaspi's automatic upload fetches a URL (research/kaspi.md: hourly, when it changed); the only
protection every fetcher can carry is a secret in the path, `CONNECTOR_KASPI_FEED_TOKEN`,
compared in constant time. A wrong or unset token is the app's plain 404, and so is the feed
turned off in mappings/catalogue.yaml (`copies: kaspi: {enabled: false}`). The answer is
streamed (connector/systems/kaspi/feed.py) with an ETag and Last-Modified, so an unchanged
catalogue costs two small reads and a 304.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from sqlalchemy.exc import SQLAlchemyError

from connector.catalogue.rules import rules_for
from connector.errors import MappingsUnusable
from connector.services import Services
from connector.systems.kaspi.feed import Feed, StoreCatalogue, store_map
from connector.systems.kaspi.settings import KaspiSettings

log = logging.getLogger("connector.kaspi.feed")

blueprint = Blueprint("kaspi_feed", __name__)


@blueprint.get("/feeds/kaspi/<token>.xml")
def kaspi_feed(token: str) -> tuple[Response, int]:
    services: Services = current_app.extensions["connector"]
    config = services.settings.of(KaspiSettings)
    expected = config.feed_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        log.warning("Kaspi price list asked for with a wrong token (or the feed is off)")
        return jsonify(error="not_found", message="no such endpoint"), 404
    if not config.merchant_id:
        return _unavailable("CONNECTOR_KASPI_MERCHANT_ID is not set")
    try:
        copy = rules_for(services.settings).copies.get("kaspi")
        if copy is not None and not copy.enabled:  # mappings/catalogue.yaml turned it off
            return jsonify(error="not_found", message="no such endpoint"), 404
        feed = Feed(
            StoreCatalogue(services.engine),
            store_map(services.mappings.current),
            merchant_id=config.merchant_id,
            company=config.company or config.merchant_id,
            now=dt.datetime.fromtimestamp(services.queue.clock(), dt.UTC),
        )
        etag, modified = feed.etag, feed.version.modified
    except MappingsUnusable:
        return _unavailable("the mapping files are invalid (see connector mappings validate)")
    except SQLAlchemyError as error:
        log.error("Kaspi price list not served, the store failed: %s", error)
        return _unavailable("the store is unavailable")
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    if modified is not None:
        headers["Last-Modified"] = _http_date(modified)
    if _unchanged(etag, modified):
        return Response(status=304, headers=headers), 304
    body = stream_with_context(feed.chunks())
    return Response(body, mimetype="application/xml", headers=headers), 200


def _unchanged(etag: str, modified: float | None) -> bool:
    """The fetcher holds this document already (If-None-Match first, as RFC 9110 says)."""
    if request.if_none_match:
        return request.if_none_match.contains(etag)
    since = request.if_modified_since
    return since is not None and modified is not None and int(modified) <= since.timestamp()


def _http_date(moment: float) -> str:
    from werkzeug.http import http_date

    return http_date(int(moment))


def _unavailable(why: str) -> tuple[Response, int]:
    log.error("Kaspi price list not served: %s", why)
    response = jsonify(error="unavailable", message=why)
    response.headers["Retry-After"] = "60"
    return response, 503
