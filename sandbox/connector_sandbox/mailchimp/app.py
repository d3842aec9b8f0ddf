"""The Mailchimp Marketing API v3 emulator: the Flask app, authentication, limits and body
validation.

Auth is HTTP Basic with any user name and the API key as password (or ``Bearer <key>``); the key's
data centre suffix (``-us1``) is accepted whatever the host, since the sandbox lives on loopback.
More than ``concurrency_limit`` (10) requests in flight for one key answer 429, as Mailchimp's
connection limit does. Every JSON body of POST/PUT/PATCH is validated against the official OpenAPI
file (see ``openapi.py``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from connector_sandbox.common import Outbox, control_blueprint, utcnow
from connector_sandbox.faults import FaultInjector
from connector_sandbox.mailchimp import audience, campaigns, control, ecommerce, errors
from connector_sandbox.mailchimp.batches import INTERNAL, BatchRunner
from connector_sandbox.mailchimp.openapi import RequestValidator
from connector_sandbox.mailchimp.state import MailchimpState

JSON_TYPE = "application/json; charset=utf-8"
DEFAULTS: dict[str, Any] = {
    "api_key": "0123456789abcdef0123456789abcdef-us1",
    "list_id": "sandbox-list",
    "store_id": "sandbox-store",
    "concurrency_limit": 10,
    "batch_delay": 0.05,  # seconds a batch stays pending
    "batch_operation_delay": 0.005,  # seconds per operation while started
    "webhook_timeout": 5.0,
    "openapi_path": None,
    "validate": True,
    # seconds every API call takes inside the connection limit (to rehearse a slow Mailchimp)
    "response_delay": 0.0,
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.mailchimp")
    app.config["SANDBOX"] = settings
    state = MailchimpState(settings)
    outbox = Outbox(timeout=settings["webhook_timeout"])
    validator = RequestValidator(settings["openapi_path"])
    batches = BatchRunner(app, state, settings["batch_delay"], settings["batch_operation_delay"])
    limiter = _ConnectionLimit(settings["concurrency_limit"])
    state.notify = _webhook_notifier(state, outbox)
    app.extensions["mailchimp"] = state
    app.extensions["mailchimp_validator"] = validator

    @app.before_request
    def authenticate_and_validate() -> Response | None:
        if not request.path.startswith("/3.0"):
            return None
        key = _api_key()
        if key is None:
            raise errors.api_key_missing()
        if key not in _accepted_keys(settings):
            raise errors.api_key_invalid()
        if not request.environ.get(INTERNAL):
            if not limiter.enter(key):
                raise errors.too_many_requests(settings["concurrency_limit"])
            g.limited_key = key
            if settings["response_delay"]:
                time.sleep(settings["response_delay"])
        if request.method in ("POST", "PUT", "PATCH"):
            g.body = _read_body()
            if settings["validate"] and request.url_rule is not None:
                api_path = request.path[len("/3.0") :] or "/"
                problems = validator.errors(request.method, api_path, g.body)
                if problems:
                    raise errors.invalid_resource(errors.SCHEMA_DETAIL, problems)
        return None

    @app.teardown_request
    def release(_: BaseException | None) -> None:
        key = g.pop("limited_key", None)
        if key is not None:
            limiter.leave(key)

    def body() -> dict[str, Any]:
        return g.get("body") or {}

    def respond(payload: Any, status: int = 200) -> Response:
        shaped = _select_fields(
            payload, request.args.get("fields"), request.args.get("exclude_fields")
        )
        return Response(json.dumps(shaped), status=status, content_type=JSON_TYPE)

    @app.post("/3.0/batches")
    def batch_submit() -> Response:
        return respond(batches.submit(body()["operations"], request.headers["Authorization"]))

    @app.get("/3.0/batches")
    def batch_list() -> Response:
        with state.lock:
            found = [dict(b) for b in state.batches.values()]
        return respond({"batches": found, "total_items": len(found)})

    @app.route("/3.0/batches/<batch_id>", methods=["GET", "DELETE"])
    def batch_get(batch_id: str) -> Response:
        with state.lock:
            batch = state.batches.get(batch_id)
            if batch is None:
                raise errors.not_found()
            if request.method == "DELETE":
                del state.batches[batch_id]
                return Response(status=204)
            return respond(dict(batch))

    @app.get("/_storage/batches/<batch_id>-response.tar.gz")
    def batch_download(batch_id: str) -> Response:
        archive = state.batch_results.get(batch_id)
        if archive is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, mimetype="text/xml")
        return Response(archive, mimetype="application/x-gzip")

    app.register_blueprint(audience.blueprint(state, outbox, respond, body))
    app.register_blueprint(ecommerce.blueprint(state, respond, body))
    app.register_blueprint(campaigns.blueprint(state, respond))
    app.register_blueprint(control.blueprint(state, outbox, batches))
    app.register_blueprint(control_blueprint(state, outbox), name="sandbox_base")

    @app.errorhandler(errors.Problem)
    def problem(error: errors.Problem) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if isinstance(error, MethodNotAllowed):
            return errors.method_not_allowed(list(error.valid_methods or [])).response()
        if error.code == 404:
            return errors.not_found().response()
        return errors.Problem(error.code or 500, error.name, error.description or "").response()

    @app.errorhandler(KeyError)
    def missing_field(error: KeyError) -> Response:
        # a required field the schema check let through (validation off or spec missing)
        field = str(error.args[0]) if error.args else ""
        detail = [{"field": field, "message": f"Required fields were not provided: {field}"}]
        return errors.invalid_resource(errors.SCHEMA_DETAIL, detail).response()

    FaultInjector(app, errors.problem_body)
    return app


class _ConnectionLimit:
    """Counts requests in flight per API key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def enter(self, key: str) -> bool:
        with self._lock:
            if self._open.get(key, 0) >= self.limit:
                return False
            self._open[key] = self._open.get(key, 0) + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._open[key] = max(0, self._open.get(key, 0) - 1)


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials).decode()
        except ValueError:
            return ""
        return decoded.partition(":")[2]
    if scheme.lower() in ("bearer", "apikey", "oauth"):
        return credentials.strip()
    return request.args.get("apikey")


def _accepted_keys(settings: dict[str, Any]) -> set[str]:
    return {settings["api_key"], *settings.get("extra_api_keys", ())}


def _read_body() -> Any:
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.json_parse() from None


def _webhook_notifier(state: MailchimpState, outbox: Outbox) -> Any:
    """Delivers audience events to every webhook of the list that wants the event and the source."""

    def notify(list_id: str, event: str, pairs: list[tuple[str, str]], source: str) -> None:
        fired_at = utcnow().strftime("%Y-%m-%d %H:%M:%S")
        body = urlencode([("type", event), ("fired_at", fired_at), *pairs]).encode()
        for hook in list(state.webhooks.get(list_id, {}).values()):
            if not hook["events"].get(event):
                continue
            if event != "cleaned" and not hook["sources"].get(source):
                continue
            outbox.post_later(
                hook["url"],
                body,
                {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"},
                kind=f"webhook:{event}",
            )

    return notify


def _select_fields(payload: Any, fields: str | None, exclude: str | None) -> Any:
    """Applies ``fields`` / ``exclude_fields`` (comma-separated, dot notation)."""
    if fields:
        return _keep(payload, [f.split(".") for f in fields.split(",") if f])
    if exclude:
        return _drop(payload, [f.split(".") for f in exclude.split(",") if f])
    return payload


def _keep(node: Any, paths: list[list[str]]) -> Any:
    if isinstance(node, list):
        return [_keep(item, paths) for item in node]
    if not isinstance(node, dict) or any(not p for p in paths):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        rest = [p[1:] for p in paths if p[0] == key]
        if rest:
            kept[key] = value if any(not r for r in rest) else _keep(value, rest)
    return kept


def _drop(node: Any, paths: list[list[str]]) -> Any:
    if isinstance(node, list):
        return [_drop(item, paths) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        rest = [p[1:] for p in paths if p[0] == key]
        if any(not r for r in rest):
            continue
        result[key] = _drop(value, rest) if rest else value
    return result
