"""The sandbox control API under /_sandbox/: reset, inspect, act as an admin or a manager.

Not part of Bitrix24: it stands in for what people do in the portal's web interface (create an
outgoing webhook, edit a contact, move a deal) so that tests and demos can make the portal change on
its own.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from . import errors
from .events import OUTGOING_WEBHOOK_EVENTS
from .fields import CONTACT, DEAL, EntityKind
from .state import Binding


def _portal() -> Any:
    return current_app.extensions["bitrix24"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _refuse(description: str, status: int = 400) -> Any:
    response = jsonify({"error": "SANDBOX_BAD_REQUEST", "error_description": description})
    response.status_code = status
    return response


def reset() -> Any:
    _portal().reset()
    return jsonify({"ok": True})


def dump() -> Any:
    portal = _portal()
    state = portal.state
    crm = portal.crm
    with state.lock:
        now = state.now()
        return jsonify(
            {
                "contacts": [crm.legacy_view(CONTACT, r) for r in crm.records(CONTACT).values()],
                "deals": [crm.legacy_view(DEAL, r) for r in crm.records(DEAL).values()],
                "product_rows": {str(k): v for k, v in state.product_rows.items()},
                "userfields": state.userfields,
                "deal_categories": {str(k): v for k, v in state.categories.items()},
                "timeline_comments": state.comments,
                "bindings": [_binding_view(b) for b in state.bindings],
                "outgoing_webhooks": [_hook_view(h) for h in state.outgoing_webhooks],
                "offline_events": [dict(r) for r in state.offline_events],
                "oauth": {
                    "client_id": portal.config.client_id,
                    "access_token": state.current_access_token,
                    "access_token_expires_at": state.access_tokens[
                        state.current_access_token
                    ].expires_at
                    if state.current_access_token in state.access_tokens
                    else None,
                    "refresh_token": state.current_refresh_token,
                    "application_token": portal.config.application_token,
                    "member_id": portal.config.member_id,
                },
                "webhook": {
                    "path": f"/rest/{portal.config.webhook_user_id}/{portal.config.webhook_token}/",
                    "url": f"{state.base_url.rstrip('/')}/rest/{portal.config.webhook_user_id}/"
                    f"{portal.config.webhook_token}/",
                },
                "calls": portal.calls(),
                "limits": {
                    "bucket": state.bucket.snapshot(now),
                    "operating": {
                        f"{cred} {method}": round(budget.used(now), 6)
                        for (cred, method), budget in state.budgets.items()
                    },
                },
            }
        )


def _binding_view(binding: Binding) -> dict[str, Any]:
    return {
        "id": binding.id,
        "event": binding.event,
        "handler": binding.handler,
        "offline": binding.offline,
        "auth_connector": binding.auth_connector,
        "source": binding.source,
    }


def _hook_view(hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": hook["id"],
        "handler": hook["handler"],
        "events": hook["events"],
        "application_token": hook["application_token"],
    }


def add_outgoing_webhook() -> Any:
    """As an admin does in Developer resources -> Other -> Outgoing webhook: URL, events, save."""
    body = _body()
    handler = str(body.get("handler") or "")
    events = body.get("events") or []
    if isinstance(events, str):
        events = [events]
    names = [str(e).upper() for e in events]
    if not handler or not names:
        return _refuse("handler (URL) and events (list of event names) are required")
    unknown = [n for n in names if n not in OUTGOING_WEBHOOK_EVENTS]
    if unknown:
        return _refuse(f"not offered for outgoing webhooks: {', '.join(unknown)}")
    portal = _portal()
    state = portal.state
    with state.lock:
        token = str(body.get("application_token") or secrets.token_hex(16))
        hook_id = state.next_id("outgoing-webhook")
        bindings = [
            Binding(
                id=state.next_id("binding"),
                event=name,
                handler=handler,
                source="outgoing-webhook",
                application_token=token,
                webhook_id=hook_id,
            )
            for name in dict.fromkeys(names)
        ]
        hook = {
            "id": hook_id,
            "handler": handler,
            "events": list(dict.fromkeys(names)),
            "application_token": token,
            "bindings": bindings,
        }
        state.outgoing_webhooks.append(hook)
        return jsonify(_hook_view(hook)), 201


def list_outgoing_webhooks() -> Any:
    return jsonify([_hook_view(h) for h in _portal().state.outgoing_webhooks])


def delete_outgoing_webhook(hook_id: int) -> Any:
    state = _portal().state
    with state.lock:
        before = len(state.outgoing_webhooks)
        state.outgoing_webhooks = [h for h in state.outgoing_webhooks if h["id"] != hook_id]
        if len(state.outgoing_webhooks) == before:
            return _refuse("no such outgoing webhook", 404)
    return jsonify({"ok": True})


def _act(kind: EntityKind) -> Any:
    """A manager edits the CRM in the browser: the change fires the same events as the API."""
    body = _body()
    portal = _portal()
    crm = portal.crm
    user_id = int(body.get("user_id") or portal.config.webhook_user_id)
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        return _refuse(
            "fields must be an object with legacy field names (NAME, PHONE, STAGE_ID...)"
        )
    action = str(body.get("action") or ("update" if body.get("id") else "add")).lower()
    fields = dict(fields)
    if body.get("stage_id"):
        fields["STAGE_ID"] = body["stage_id"]
    if body.get("category_id") is not None:
        fields["CATEGORY_ID"] = body["category_id"]
    with portal.state.lock:
        try:
            if action == "add":
                record_id = crm.add(kind, fields, user_id)
                return jsonify({"id": str(record_id), "action": "add"}), 201
            record = crm.find(kind, body.get("id"))
            if record is None:
                return _refuse(f"{kind.name} {body.get('id')} not found", 404)
            if action == "delete":
                crm.delete(kind, record, user_id)
            elif action in {"update", "move"}:
                crm.update(kind, record, fields, user_id, allow_category_move=True)
            else:
                return _refuse("action must be add, update, move or delete")
        except errors.ApiError as refusal:
            return _refuse(refusal.description)
        return jsonify({"id": str(record["ID"]), "action": action})


def act_contact() -> Any:
    return _act(CONTACT)


def act_deal() -> Any:
    return _act(DEAL)


def add_deal_category() -> Any:
    name = str(_body().get("name") or "Pipeline")
    state = _portal().state
    with state.lock:
        return jsonify({"id": state.add_category(name), "name": name}), 201


def expire_token() -> Any:
    """Make the app's access token (or the one given) expired now, as an hour passing would."""
    portal = _portal()
    state = portal.state
    with state.lock:
        value = str(_body().get("access_token") or state.current_access_token)
        token = state.access_tokens.get(value)
        if token is None:
            return _refuse("unknown access token", 404)
        token.expires_at = state.now() - 1
        return jsonify({"expired": value})


def install_app() -> Any:
    """Re-install the app: fresh tokens; with ``handler`` also POST ONAPPINSTALL there."""
    portal = _portal()
    state = portal.state
    body = _body()
    with state.lock:
        access, refresh = state.issue_tokens(state.now())
        delivery = portal.bus.send_install(str(body["handler"])) if body.get("handler") else None
        return jsonify(
            {
                "access_token": access.value,
                "refresh_token": refresh.value,
                "expires_in": portal.config.access_token_lifetime,
                "application_token": portal.config.application_token,
                "member_id": portal.config.member_id,
                "client_endpoint": portal.bus.client_endpoint(),
                "server_endpoint": portal.bus.server_endpoint(),
                "delivery_id": delivery["id"] if delivery else None,
            }
        )


def deliveries() -> Any:
    """Log of event POSTs; ``?wait=SECONDS`` waits for queued ones, ``?event=NAME`` filters."""
    portal = _portal()
    wait = request.args.get("wait", type=float)
    if wait:
        portal.bus.wait_idle(wait)
    event = (request.args.get("event") or "").upper()
    with portal.state.lock:
        log = [dict(d) for d in portal.state.deliveries if not event or d["event"] == event]
    return jsonify({"deliveries": log})


def calls() -> Any:
    """What the portal was asked so far, without the whole state: requests, refusals, commands,
    records held (benchmarks poll this)."""
    portal = _portal()
    with portal.state.lock:
        held = {kind: len(portal.crm.records(kind)) for kind in (CONTACT, DEAL)}
        rows = sum(1 for rows in portal.state.product_rows.values() if rows)
    return jsonify(
        {**portal.calls(), "contacts": held[CONTACT], "deals": held[DEAL], "deals_with_rows": rows}
    )


def control_blueprint() -> Blueprint:
    blueprint = Blueprint("bitrix24_sandbox", __name__, url_prefix="/_sandbox")
    rules = [
        ("/reset", reset, ["POST"]),
        ("/state", dump, ["GET"]),
        ("/calls", calls, ["GET"]),
        ("/outgoing-webhooks", add_outgoing_webhook, ["POST"]),
        ("/outgoing-webhooks", list_outgoing_webhooks, ["GET"]),
        ("/outgoing-webhooks/<int:hook_id>", delete_outgoing_webhook, ["DELETE"]),
        ("/act/contact", act_contact, ["POST"]),
        ("/act/deal", act_deal, ["POST"]),
        ("/deal-categories", add_deal_category, ["POST"]),
        ("/oauth/expire", expire_token, ["POST"]),
        ("/oauth/install", install_app, ["POST"]),
        ("/events", deliveries, ["GET"]),
    ]
    for path, view, verbs in rules:
        blueprint.add_url_rule(path, f"{view.__name__}", view, methods=verbs)
    return blueprint
