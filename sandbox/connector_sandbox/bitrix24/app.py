"""The Flask app of the sandbox portal: REST routing, authentication, and the JSON envelope.

Inbound webhook: ``/rest/{user_id}/{token}/{method}[.json]``; OAuth: ``/rest/{method}[.json]`` with
``auth=ACCESS_TOKEN`` in the query, form or JSON body
(https://apidocs.bitrix24.com/settings/how-to-call-rest-api/authorization.html).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request

from . import errors
from .config import Bitrix24Config
from .control import control_blueprint
from .oauth import oauth_blueprint
from .params import request_params
from .portal import Caller, Portal


def create_app(config: Bitrix24Config | dict[str, Any] | None = None) -> Flask:
    """A Flask app emulating one Bitrix24 portal; its state lives in ``app.extensions["bitrix24"]``.

    ``config`` may also be a dict of ``Bitrix24Config`` fields (as the sandbox runner passes
    settings).
    """
    if isinstance(config, dict):
        config = Bitrix24Config(**config)
    app = Flask(__name__)
    portal = Portal(config or Bitrix24Config())
    app.extensions["bitrix24"] = portal
    app.before_request(_learn_address)
    app.add_url_rule("/rest/<path:tail>", "bitrix24_rest", _rest, methods=["GET", "POST"])
    app.register_blueprint(oauth_blueprint())
    app.register_blueprint(control_blueprint())
    return app


def _learn_address() -> None:
    """client_endpoint in events and token answers points where the portal was reached."""
    portal: Portal = current_app.extensions["bitrix24"]
    portal.state.base_url = (
        portal.config.public_url or current_app.config.get("SANDBOX_BASE_URL") or request.host_url
    )


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def _rest(tail: str) -> Response:
    portal: Portal = current_app.extensions["bitrix24"]
    try:
        params = request_params(request)
        caller, method = _authenticate(portal, tail, params)
        portal.take_request_slot(method)
        body = portal.call(caller, method, params)
    except errors.ApiError as refusal:
        return _json(refusal.body(), refusal.status)
    except Exception:  # a bug in the emulator still answers in the portal's error shape
        current_app.logger.exception("bitrix24 sandbox failed on %s", tail)
        return _json(
            {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500
        )
    return _json(body)


def _method_name(raw: str) -> str:
    return raw[: -len(".json")] if raw.lower().endswith(".json") else raw


def _authenticate(portal: Portal, tail: str, params: dict[str, Any]) -> tuple[Caller, str]:
    cfg = portal.config
    parts = [p for p in tail.split("/") if p]
    if len(parts) == 3 and parts[0].isdigit():
        user_id, token, method = int(parts[0]), parts[1], parts[2]
        if user_id != cfg.webhook_user_id or token != cfg.webhook_token:
            raise errors.no_auth_found()
        return Caller("webhook", user_id, f"webhook:{user_id}:{token}"), _method_name(method)
    if len(parts) != 1:
        raise errors.method_not_found()
    token = params.pop("auth", None)
    if not isinstance(token, str) or not token:
        raise errors.no_auth_found()
    state = portal.state
    with state.lock:
        known = state.access_tokens.get(token)
        if known is None:
            raise errors.no_auth_found()
        if known.expires_at <= state.now():
            raise errors.expired_token()
    caller = Caller("oauth", known.user_id, f"app:{cfg.client_id}", is_admin=cfg.app_is_admin)
    return caller, _method_name(parts[0])
