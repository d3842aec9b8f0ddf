"""Bitrix24's webhook route, `POST /webhooks/bitrix24` (its declaration's `blueprint`): CRM
events and the OAuth app's ONAPPINSTALL."""

from __future__ import annotations

import time

from flask import Response, request

import webhooks
from connector import keys
from connector.errors import PermanentError
from connector.inbound import TaskSpec, content_key
from connector.systems.bitrix24 import events
from connector.systems.bitrix24.credentials import TableTokenStore

SOURCE = "bitrix24"
ENTITIES = {"CONTACT": "contact", "DEAL": "deal"}
ACTIONS = {"ADD", "UPDATE", "DELETE", "MOVETOCATEGORY"}

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


def _token() -> str | None:
    services = webhooks.services()
    return events.expected_application_token(
        services.settings.bitrix24_application_token, TableTokenStore(services.engine)
    )


@blueprint.post("/bitrix24")
def bitrix24() -> tuple[Response, int]:
    """CRM events: they carry only an id and are never re-sent, so they are stored at once.

    The token is checked before the body is parsed: a stranger's delivery is refused unread.
    """
    body = webhooks.body()
    content_type = request.content_type or ""
    try:
        name, token = events.read_credentials(body, content_type)
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if name == "ONAPPINSTALL":
        if not webhooks.services().settings.bitrix24_client_id:
            return webhooks.refuse(401, SOURCE, "unauthorized", "no OAuth app is configured")
    elif not events.token_matches(token, _token() or ""):
        return webhooks.refuse(
            401, SOURCE, "unauthorized", "auth[application_token] does not match"
        )
    try:
        event = events.parse_event(body, content_type)
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if event.name == "ONAPPINSTALL":
        return _install(event, body)
    entity = entity_of(event.name)
    if entity is not None and not event.entity_id:
        return webhooks.refuse(400, SOURCE, "bad_request", "data[FIELDS][ID]: missing")
    task = None
    if entity is not None:
        task = TaskSpec(
            "bitrix24.event",
            {"event": event.name, "entity": entity, "id": event.entity_id, "ts": event.ts},
            ordering_key=keys.record(entity, SOURCE, event.entity_id),
        )
    # Bitrix24 never re-sends an event, and two changes of one deal within a second (our write
    # and a manager's stage move) send identical bodies: the time of arrival keeps them apart.
    # A true duplicate is harmless, since the flow reads the entity fresh and drops echoes.
    delivery_id = content_key(event.name, event.entity_id, event.ts, event.handler_id)
    return webhooks.store(SOURCE, f"{delivery_id}:{time.time_ns()}", event.name, body, task)


def entity_of(event_name: str) -> str | None:
    """`ONCRMDEALUPDATE` -> `deal`; None for events we do not sync. A deal moved to another
    funnel (`ONCRMDEALMOVETOCATEGORY`) changed its stage: it is read fresh like an update."""
    for marker, entity in ENTITIES.items():
        action = event_name.removeprefix(f"ONCRM{marker}")
        if action != event_name and action in ACTIONS:
            return entity
    return None


def _install(event: events.Event, body: bytes) -> tuple[Response, int]:
    """ONAPPINSTALL brings the app's tokens: accepted when an OAuth app is configured and no
    other app's `application_token` is stored already."""
    services = webhooks.services()
    try:
        credentials = events.install_credentials(event)
    except PermanentError as error:
        return webhooks.refuse(400, SOURCE, "bad_request", error.args[0])
    if not services.settings.bitrix24_client_id or not credentials.get("application_token"):
        return webhooks.refuse(401, SOURCE, "unauthorized", "no OAuth app is configured")
    store = TableTokenStore(services.engine)
    stored = store.load() or {}
    known = stored.get("application_token")
    if known and not webhooks.same(credentials["application_token"], known):
        return webhooks.refuse(401, SOURCE, "unauthorized", "another app is already installed")
    store.save({**stored, **credentials})
    return webhooks.store(
        SOURCE,
        content_key("ONAPPINSTALL", event.ts, event.member_id),
        "ONAPPINSTALL",
        body,
        None,
    )
