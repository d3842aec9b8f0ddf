"""The emulated authorization server (oauth.bitrix.info): /oauth/token/ and /oauth/authorize/.

https://apidocs.bitrix24.com/settings/oauth/index.html and auto-renewal.html: a refresh answers a
new access token *and* a new refresh token (the old refresh token stops working); shapes as
specs/bitrix24/oauth/token.*.response.json; refusals as settings/oauth/error-codes.md.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .params import decode_pairs
from .state import Token

AUTH_CODE_LIFETIME = 30


def _portal() -> Any:
    return current_app.extensions["bitrix24"]


def _refuse(code: str, description: str, status: int = 400) -> Any:
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


def _token_answer(portal: Any, access: Token, refresh: Token, with_user: bool) -> dict[str, Any]:
    cfg = portal.config
    body: dict[str, Any] = {
        "access_token": access.value,
        "client_endpoint": portal.bus.client_endpoint(),
        "domain": request.host,
        "expires_in": cfg.access_token_lifetime,
        "member_id": cfg.member_id,
        "refresh_token": refresh.value,
        "scope": ",".join(cfg.scopes),
        "server_endpoint": portal.bus.server_endpoint(),
        "status": "L",
    }
    if with_user:
        body["expires"] = int(access.expires_at)
        body["user_id"] = cfg.app_user_id
    return dict(sorted(body.items()))


def token() -> Any:
    portal = _portal()
    params = decode_pairs(request.args.items(multi=True))
    params.update(decode_pairs(request.form.items(multi=True)))
    cfg = portal.config
    state = portal.state
    grant = params.get("grant_type")
    if params.get("client_id") != cfg.client_id or params.get("client_secret") != cfg.client_secret:
        return _refuse("invalid_client", "Invalid client credentials", 401)
    with state.lock:
        now = state.now()
        if grant == "refresh_token":
            old = state.refresh_tokens.get(str(params.get("refresh_token") or ""))
            if old is None or old.expires_at <= now:
                return _refuse("invalid_grant", "Invalid refresh token")
            del state.refresh_tokens[old.value]
            access, refresh = state.issue_tokens(now)
            return jsonify(_token_answer(portal, access, refresh, with_user=True))
        if grant == "authorization_code":
            code = state.auth_codes.pop(str(params.get("code") or ""), None)
            if code is None or code.expires_at <= now:
                return _refuse("invalid_grant", "Invalid authorization code")
            access, refresh = state.issue_tokens(now)
            return jsonify(_token_answer(portal, access, refresh, with_user=False))
    return _refuse("invalid_request", "Unsupported grant_type")


def authorize() -> Any:
    """Stands in for the user's consent screen: answers the code the redirect would carry."""
    portal = _portal()
    cfg = portal.config
    if request.args.get("client_id") != cfg.client_id:
        return _refuse("invalid_client", "Invalid client id", 401)
    state = portal.state
    with state.lock:
        code = Token(secrets.token_hex(16), state.now() + AUTH_CODE_LIFETIME, cfg.app_user_id)
        state.auth_codes[code.value] = code
    return jsonify(
        {
            "code": code.value,
            "state": request.args.get("state", ""),
            "domain": portal.bus.domain(),
            "member_id": cfg.member_id,
            "scope": ",".join(cfg.scopes),
            "server_domain": request.host,
        }
    )


def oauth_blueprint() -> Blueprint:
    blueprint = Blueprint("bitrix24_oauth", __name__)
    for path in ("/oauth/token/", "/oauth/token"):
        blueprint.add_url_rule(path, f"token{len(path)}", token, methods=["GET", "POST"])
    for path in ("/oauth/authorize/", "/oauth/authorize"):
        blueprint.add_url_rule(path, f"authorize{len(path)}", authorize, methods=["GET"])
    return blueprint
