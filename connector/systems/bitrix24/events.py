"""Bitrix24 events: parsing and verifying online POSTs, binding handlers, reading offline queues.

Online events arrive form-encoded with PHP keys (`data[FIELDS][ID]`, `auth[application_token]`),
carry only the object's ID and are never re-sent; their only proof of origin is the
`application_token`, compared in constant time (docs `api-reference/events/index.md`,
`safe-event-handlers.md`; research/bitrix24.md 6.2-6.4). Offline events are a durable queue,
coalesced per object, read with `clear=0` and confirmed after the data is safe, and bound with
an `auth_connector` so the connector's own writes never come back (research 6.5).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from connector.errors import PermanentError
from connector.safe_input import BadBody, load_json, positive_int, unix_seconds
from connector.systems.bitrix24.client import AUTH_CONNECTOR, Bitrix24Client
from connector.systems.forms import parse_php_form

CONTACT_EVENTS = ("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMCONTACTDELETE")
DEAL_EVENTS = ("ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE")
SYNC_EVENTS = CONTACT_EVENTS + DEAL_EVENTS
APP_ONLY_EVENTS = ("ONCRMDEALMOVETOCATEGORY", "ONAPPUNINSTALL")


@dataclass(frozen=True)
class Event:
    """One event as received: `name` upper-cased, `entity_id` from `data[FIELDS][ID]`."""

    name: str
    entity_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    ts: str | None = None
    handler_id: str | None = None

    @property
    def application_token(self) -> str:
        return str(self.auth.get("application_token") or "")

    @property
    def member_id(self) -> str:
        return str(self.auth.get("member_id") or "")


def read_credentials(body: bytes | str, content_type: str = "") -> tuple[str, str]:
    """The event name (upper-cased) and `auth[application_token]`, read before the body is
    parsed, so a stranger's delivery is refused unread: a form (what Bitrix24 sends) gives
    them from its flat pairs; JSON has to be decoded, within `safe_input`'s depth limit."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if not _is_json(text, content_type):
        pairs = dict(parse_qsl(text.strip(), keep_blank_values=True))
        return pairs.get("event", "").upper(), pairs.get("auth[application_token]", "")
    payload = _decode_json(text)
    auth = found if isinstance(found := payload.get("auth"), dict) else {}
    name, token = payload.get("event"), auth.get("application_token")
    return (
        name.upper() if isinstance(name, str) else "",
        token if isinstance(token, str) else "",
    )


def parse_event(body: bytes | str, content_type: str = "") -> Event:
    """An event from its raw body, form-encoded (the real thing) or JSON (docs and tests).

    Raises `PermanentError` whose message names the field: the body, `event`, and for CRM
    events `data[FIELDS][ID]` (a positive integer) and `ts` (unix seconds), which the flows
    read later; refused here they never reach the queue.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if _is_json(text, content_type):
        payload = _decode_json(text)
    else:
        try:
            payload = parse_php_form(text)
        except BadBody as error:
            raise PermanentError(str(error), code="bad_event") from None
    name = payload.get("event")
    if not isinstance(name, str) or not name:
        raise PermanentError("event: missing, or not a text", code="bad_event")
    name = name.upper()
    data = found if isinstance(found := payload.get("data"), dict) else {}
    fields = given if isinstance(given := data.get("FIELDS"), dict) else {}
    entity_id = fields.get("ID")
    if entity_id in (None, ""):
        entity_id = None
    elif name.startswith("ONCRM"):
        entity_id = positive_int(entity_id)
        if entity_id is None:
            raise PermanentError("data[FIELDS][ID]: not a positive integer", code="bad_event")
    ts = payload.get("ts")
    if ts not in (None, "") and not unix_seconds(ts):
        raise PermanentError("ts: not a unix time in seconds", code="bad_event")
    return Event(
        name=name,
        entity_id=str(entity_id) if entity_id is not None else None,
        data=data,
        auth=auth if isinstance(auth := payload.get("auth"), dict) else {},
        ts=str(ts) if ts not in (None, "") else None,
        handler_id=str(payload.get("event_handler_id") or "") or None,
    )


def _is_json(text: str, content_type: str) -> bool:
    """JSON when the content type says so; a form when it says that (even if it starts with
    `{`); otherwise by the first character."""
    kind = content_type.lower()
    if "json" in kind or "form" in kind:
        return "json" in kind
    return text.lstrip().startswith("{")


def _decode_json(text: str) -> dict[str, Any]:
    try:
        payload = load_json(text)
    except BadBody as error:
        raise PermanentError(str(error), code="bad_event") from None
    if not isinstance(payload, dict):
        raise PermanentError("body: not a JSON object", code="bad_event")
    return payload


def token_matches(given: str, application_token: str) -> bool:
    """`given` is our portal's `application_token` (constant-time compare)."""
    return bool(application_token) and hmac.compare_digest(
        given.encode(), application_token.encode()
    )


def verify_event(event: Event, application_token: str, member_id: str | None = None) -> bool:
    """True when the event carries our portal's `application_token` (and `member_id`, if known)."""
    token_ok = token_matches(event.application_token, application_token)
    member_ok = not member_id or hmac.compare_digest(event.member_id.encode(), member_id.encode())
    return token_ok and member_ok


def install_credentials(event: Event) -> dict[str, Any]:
    """What to keep from ONAPPINSTALL (tokens, endpoint, `application_token`) in the token store.

    The app receives its first tokens and the token that authenticates every later event only
    here (docs `installation-callback.md`, `safe-event-handlers.md`).
    """
    if event.name != "ONAPPINSTALL":
        raise PermanentError(f"{event.name} is not ONAPPINSTALL", code="bad_event")
    keep = (
        "access_token",
        "refresh_token",
        "expires_in",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "domain",
        "application_token",
    )
    kept = {key: event.auth[key] for key in keep if event.auth.get(key) not in (None, "")}
    for key, value in kept.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise PermanentError(f"auth[{key}]: not a text", code="bad_event")
    return kept


def expected_application_token(configured: str | None, store: Any | None) -> str | None:
    """The token events must carry: the configured one, else the one setup or install stored."""
    if configured:
        return configured
    stored = store.load() if store is not None else None
    return (stored or {}).get("application_token")


# --------------------------------------------------------------------------- binding


def bound_events(client: Bitrix24Client) -> list[dict[str, Any]]:
    """Handlers bound by this app (`event.get`; app connections only)."""
    return list(client.call("event.get", {}) or [])


def bind_online(client: Bitrix24Client, handler: str, events: Iterable[str]) -> list[str]:
    """Binds `handler` to each event not bound yet; returns the events newly bound."""
    have = {
        (str(row.get("event", "")).upper(), str(row.get("handler", "")))
        for row in bound_events(client)
        if not _is_offline(row)
    }
    added = []
    for name in events:
        if (name.upper(), handler) in have:
            continue
        _bind(client, {"event": name, "handler": handler})
        added.append(name.upper())
    return added


def bind_offline(
    client: Bitrix24Client, events: Iterable[str], auth_connector: str = AUTH_CONNECTOR
) -> list[str]:
    """Binds offline queues for `events`; writes tagged `auth_connector` are left out of them."""
    have = {str(row.get("event", "")).upper() for row in bound_events(client) if _is_offline(row)}
    added = []
    for name in events:
        if name.upper() in have:
            continue
        params = {"event": name, "event_type": "offline", "auth_connector": auth_connector}
        _bind(client, params)
        added.append(name.upper())
    return added


def _bind(client: Bitrix24Client, params: dict[str, Any]) -> None:
    try:
        client.call("event.bind", params)
    except PermanentError as error:
        if str(error.code or "").upper() != "ERROR_HANDLER_ALREADY_EXIST":
            raise


def _is_offline(row: Mapping[str, Any]) -> bool:
    return str(row.get("offline", "0")) in {"1", "true", "True", "Y"}


# --------------------------------------------------------------------------- offline queue


@dataclass(frozen=True)
class OfflineBatch:
    """Reserved offline events: confirm them with `confirm_offline` once they are stored.

    `auth_connector` names the portal's queue they came from; confirming or setting them
    aside must name it too, or the portal looks in another queue.
    """

    process_id: str | None
    events: list[dict[str, Any]]
    auth_connector: str | None = AUTH_CONNECTOR


def read_offline(
    client: Bitrix24Client,
    limit: int = 50,
    auth_connector: str | None = AUTH_CONNECTOR,
    set_aside: bool = False,
) -> OfflineBatch:
    """Reserves up to `limit` events without clearing them (`clear=0`); `set_aside` reads the
    ones an earlier run marked with `fail_offline` (`error=1`)."""
    params: dict[str, Any] = {"limit": limit, "clear": 0}
    if set_aside:
        params["error"] = 1
    if auth_connector:
        params["auth_connector"] = auth_connector
    result = client.call("event.offline.get", params) or {}
    events = result.get("events") or [] if isinstance(result, Mapping) else []
    process_id = result.get("process_id") if isinstance(result, Mapping) else None
    return OfflineBatch(str(process_id) if process_id else None, list(events), auth_connector)


def _settle_params(batch: OfflineBatch, message_ids: Iterable[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"process_id": batch.process_id}
    if message_ids is not None:
        params["message_id"] = list(message_ids)
    if batch.auth_connector:
        params["auth_connector"] = batch.auth_connector
    return params


def confirm_offline(
    client: Bitrix24Client, batch: OfflineBatch, message_ids: Iterable[str] | None = None
) -> None:
    """Deletes the reserved events (all of them, or only `message_ids`) from the queue."""
    if batch.process_id and batch.events:
        client.call("event.offline.clear", _settle_params(batch, message_ids))


def fail_offline(client: Bitrix24Client, batch: OfflineBatch, message_ids: Iterable[str]) -> None:
    """Marks events we could not process, so they are kept aside instead of re-delivered."""
    if batch.process_id and batch.events:
        client.call("event.offline.error", _settle_params(batch, message_ids))
