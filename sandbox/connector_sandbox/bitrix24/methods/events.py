"""``event.*`` methods: handlers bound by the app, and the offline event queues.

Only in the application (OAuth) context
(https://apidocs.bitrix24.com/api-reference/events/event-bind.html); through an inbound webhook they
answer WRONG_AUTH_TYPE as the portal does. Offline handlers need an admin.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from .. import errors, timefmt
from ..events import KNOWN_EVENTS
from ..listing import Page, compile_filter, paginate, sort_records
from ..params import as_bool, as_int, as_list, pick
from ..state import Binding


def _app_only(call: Any) -> None:
    if not call.caller.is_app:
        raise errors.wrong_auth_type()


def _event_name(call: Any) -> str:
    name = str(pick(call.params, "event") or "").strip().upper()
    if name not in KNOWN_EVENTS:
        raise errors.ApiError("ERROR_EVENT_NOT_FOUND", "Event not found")
    return name


def event_bind(call: Any) -> bool:
    _app_only(call)
    event = _event_name(call)
    offline = str(pick(call.params, "event_type") or "online").lower() == "offline"
    handler = str(pick(call.params, "handler") or "")
    connector = str(pick(call.params, "auth_connector") or "")
    auth_type = as_int(pick(call.params, "auth_type"), 0) or 0
    state = call.portal.state
    if offline and not call.caller.is_admin:
        raise errors.ApiError("ACCESS_DENIED", "Access denied! Admin permissions required", 403)
    if not offline and not handler:
        raise errors.ApiError("ERROR_HANDLER_URL_MISMATCH", "Wrong handler URL")
    for binding in state.bindings:
        same = binding.event == event and binding.offline == offline
        if same and (
            (offline and binding.auth_connector == connector)
            or (not offline and binding.handler == handler and binding.auth_type == auth_type)
        ):
            raise errors.ApiError("ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
    state.bindings.append(
        Binding(
            id=state.next_id("binding"),
            event=event,
            handler="" if offline else handler,
            source="app",
            application_token=state.config.application_token,
            auth_type=auth_type,
            offline=offline,
            auth_connector=connector,
            options=pick(call.params, "options"),
        )
    )
    return True


def event_get(call: Any) -> list[dict[str, Any]]:
    _app_only(call)
    out = []
    for binding in call.portal.state.bindings:
        row: dict[str, Any] = {
            "event": binding.event,
            "handler": binding.handler,
            "auth_type": str(binding.auth_type),
            "offline": 1 if binding.offline else 0,
        }
        if binding.offline and binding.auth_connector:
            row["connector_id"] = binding.auth_connector
        out.append(row)
    return out


def event_unbind(call: Any) -> dict[str, int]:
    _app_only(call)
    event = _event_name(call)
    state = call.portal.state
    handler = pick(call.params, "handler")
    auth_type = pick(call.params, "auth_type")
    offline = str(pick(call.params, "event_type") or "online").lower() == "offline"
    kept, removed = [], 0
    for binding in state.bindings:
        hit = (
            binding.event == event
            and binding.offline == offline
            and (offline or handler in (None, "") or binding.handler == handler)
            and (auth_type in (None, "") or binding.auth_type == as_int(auth_type))
        )
        if hit:
            removed += 1
        else:
            kept.append(binding)
    state.bindings = kept
    return {"count": removed}


def events_list(call: Any) -> list[str]:
    return sorted(KNOWN_EVENTS)


# -- offline queue ------------------------------------------------------------------------------


def _queue(call: Any) -> list[dict[str, Any]]:
    connector = str(pick(call.params, "auth_connector") or "")
    return [r for r in call.portal.state.offline_events if r["CONNECTOR"] == connector]


def _resolver(name: str) -> Any:
    upper = name.upper()
    kinds = {"ID": "int", "TIMESTAMP_X": "datetime", "EVENT_NAME": "string", "MESSAGE_ID": "string"}
    if upper not in kinds and upper not in {"PROCESS_ID", "ERROR"}:
        return None
    return (lambda r, n=upper: r.get(n), kinds.get(upper, "string"))


def _view(call: Any, record: dict[str, Any], full: bool = False) -> dict[str, Any]:
    offset = call.portal.config.utc_offset_hours
    row = {
        "ID": str(record["ID"]),
        "TIMESTAMP_X": timefmt.iso(record["TIMESTAMP_X"], offset),
        "EVENT_NAME": record["EVENT_NAME"],
        "EVENT_DATA": record["EVENT_DATA"],
        "EVENT_ADDITIONAL": record["EVENT_ADDITIONAL"],
        "MESSAGE_ID": record["MESSAGE_ID"],
    }
    if full:
        row["PROCESS_ID"] = record["PROCESS_ID"]
        row["ERROR"] = str(record["ERROR"])
    return row


def _offline_allowed(call: Any) -> None:
    _app_only(call)
    if not call.caller.is_admin:
        raise errors.ApiError("ACCESS_DENIED", "Access denied! Admin permissions required", 403)


def offline_get(call: Any) -> dict[str, Any]:
    """The next batch; ``clear=1`` (default) deletes it, ``clear=0`` reserves it under
    ``process_id``.
    """
    _offline_allowed(call)
    error = 1 if as_bool(pick(call.params, "error")) else 0
    limit = as_int(pick(call.params, "limit"), 50) or 50
    clear = as_bool(pick(call.params, "clear"), default=True)
    candidates = [r for r in _queue(call) if r["PROCESS_ID"] is None and r["ERROR"] == error]
    matches = compile_filter(
        pick(call.params, "filter"), _resolver, call.portal.config.utc_offset_hours, strict=False
    )
    candidates = [r for r in candidates if matches(r)]
    candidates = sort_records(
        candidates,
        pick(call.params, "order") or {"TIMESTAMP_X": "ASC", "ID": "ASC"},
        _resolver,
        "ID",
    )[: max(limit, 0)]
    state = call.portal.state
    process_id = None
    if clear:
        taken = {id(r) for r in candidates}
        state.offline_events = [r for r in state.offline_events if id(r) not in taken]
    else:
        process_id = str(pick(call.params, "process_id") or "") or secrets.token_hex(16)
        for record in candidates:
            record["PROCESS_ID"] = process_id
    return {"process_id": process_id, "events": [_view(call, r) for r in candidates]}


def _marked(call: Any) -> list[dict[str, Any]]:
    process_id = str(pick(call.params, "process_id") or "")
    if not process_id:
        raise errors.ApiError("INVALID_REQUEST", "process_id is required")
    records = [r for r in _queue(call) if r["PROCESS_ID"] == process_id]
    ids = {as_int(v) for v in as_list(pick(call.params, "id"))}
    message_ids = {str(v) for v in as_list(pick(call.params, "message_id"))}
    if ids:
        records = [r for r in records if r["ID"] in ids]
    elif message_ids:
        records = [r for r in records if r["MESSAGE_ID"] in message_ids]
    return records


def offline_clear(call: Any) -> bool:
    _offline_allowed(call)
    taken = {id(r) for r in _marked(call)}
    state = call.portal.state
    state.offline_events = [r for r in state.offline_events if id(r) not in taken]
    return True


def offline_error(call: Any) -> bool:
    """Marks reserved records failed: they leave the process and come back only with error=1."""
    _offline_allowed(call)
    for record in _marked(call):
        record["ERROR"] = 1
        record["PROCESS_ID"] = None
    return True


def offline_list(call: Any) -> Page:
    _offline_allowed(call)
    offset = call.portal.config.utc_offset_hours
    matches = compile_filter(pick(call.params, "filter"), _resolver, offset, strict=False)
    rows = [r for r in _queue(call) if matches(r)]
    rows = sort_records(rows, pick(call.params, "order"), _resolver, "ID")
    page, total, following = paginate(rows, pick(call.params, "start"))
    return Page([_view(call, r, full=True) for r in page], total, following)


def methods() -> dict[str, Callable[[Any], Any]]:
    return {
        "event.bind": event_bind,
        "event.get": event_get,
        "event.unbind": event_unbind,
        "events": events_list,
        "event.offline.get": offline_get,
        "event.offline.clear": offline_clear,
        "event.offline.error": offline_error,
        "event.offline.list": offline_list,
    }
