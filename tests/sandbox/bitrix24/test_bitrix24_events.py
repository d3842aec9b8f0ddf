"""Events: form-encoded POSTs with the application token, never re-sent; offline queues."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from .conftest import Portal, spec


class Handler:
    """An event handler on a real loopback port, recording what Bitrix24 POSTs to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        app = Flask("handler")
        app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _hook(self) -> Any:
        raw = request.get_data(cache=True, as_text=True)
        self.received.append(
            {"content_type": request.content_type, "form": request.form.to_dict(), "raw": raw}
        )
        return "", self.status

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def handler() -> Iterator[Handler]:
    server = Handler()
    yield server
    server.stop()


def _flatten(prefix: str, value: Any) -> set[str]:
    if isinstance(value, dict):
        keys: set[str] = set()
        for key, item in value.items():
            keys |= _flatten(f"{prefix}[{key}]" if prefix else key, item)
        return keys
    return {prefix}


def _deliveries(portal: Portal, event: str = "") -> list[dict[str, Any]]:
    return portal.control("GET", f"events?wait=5&event={event}")["deliveries"]


def test_app_handler_gets_the_documented_form_with_the_application_token(
    portal: Portal, handler: Handler
) -> None:
    bound = portal.oauth("event.bind", {"event": "onCrmContactAdd", "handler": handler.url})
    assert bound.get_json()["result"] is True
    contact_id = portal.result("crm.contact.add", {"fields": {"NAME": "Ivan"}})
    _deliveries(portal)
    assert len(handler.received) == 1
    got = handler.received[0]
    assert got["content_type"] == "application/x-www-form-urlencoded"
    form = got["form"]
    documented = _flatten("", spec("events/event_ONCRMCONTACTADD.app.json"))
    assert documented - set(form) == set()
    assert form["event"] == "ONCRMCONTACTADD" and form["data[FIELDS][ID]"] == str(contact_id)
    config = portal.app.extensions["bitrix24"].config
    assert form["auth[application_token]"] == config.application_token
    assert form["auth[member_id]"] == config.member_id
    assert got["raw"].startswith("event=ONCRMCONTACTADD&event_handler_id=")
    # the token in the event is a working access token
    assert (
        portal.oauth(
            "crm.contact.get", {"id": contact_id}, token=form["auth[access_token]"]
        ).status_code
        == 200
    )


def test_outgoing_webhook_gets_manager_changes_with_its_own_token(
    portal: Portal, handler: Handler
) -> None:
    hook = portal.control(
        "POST",
        "outgoing-webhooks",
        {"handler": handler.url, "events": ["ONCRMDEALADD", "ONCRMDEALUPDATE"]},
    )
    deal = portal.control("POST", "act/deal", {"fields": {"TITLE": "Phone order"}})
    portal.control("POST", "act/deal", {"id": deal["id"], "stage_id": "PREPARATION"})
    _deliveries(portal)
    events = [(r["form"]["event"], r["form"]["data[FIELDS][ID]"]) for r in handler.received]
    assert events == [("ONCRMDEALADD", deal["id"]), ("ONCRMDEALUPDATE", deal["id"])]
    form = handler.received[0]["form"]
    documented = _flatten("", spec("events/event_ONCRMDEALADD.outgoing-webhook.json"))
    assert set(form) == documented
    assert form["auth[application_token]"] == hook["application_token"]
    assert portal.result("crm.deal.get", {"id": deal["id"]})["STAGE_ID"] == "PREPARATION"


def test_a_failed_delivery_is_logged_and_never_resent(portal: Portal, handler: Handler) -> None:
    handler.status = 500
    portal.control(
        "POST", "outgoing-webhooks", {"handler": handler.url, "events": ["ONCRMCONTACTADD"]}
    )
    portal.control(
        "POST",
        "outgoing-webhooks",
        {"handler": "http://127.0.0.1:9/closed", "events": ["ONCRMCONTACTADD"]},
    )
    portal.result("crm.contact.add", {"fields": {"NAME": "Ivan"}})
    log = _deliveries(portal, "ONCRMCONTACTADD")
    assert [(d["status"], d["status_code"]) for d in log] == [("failed", 500), ("failed", None)]
    assert log[1]["error"]
    handler.status = 200
    _deliveries(portal)
    assert len(handler.received) == 1


def test_outgoing_webhooks_offer_only_online_crm_events(portal: Portal) -> None:
    response = portal.client.post(
        "/_sandbox/outgoing-webhooks",
        json={"handler": "http://127.0.0.1:9/x", "events": ["ONCRMDEALMOVETOCATEGORY"]},
    )
    assert response.status_code == 400


def test_moving_a_funnel_fires_move_to_category_not_update(
    portal: Portal, handler: Handler
) -> None:
    for event in ("ONCRMDEALUPDATE", "ONCRMDEALMOVETOCATEGORY"):
        portal.oauth("event.bind", {"event": event, "handler": handler.url})
    category = portal.control("POST", "deal-categories", {"name": "Wholesale"})["id"]
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Bulk"}})
    portal.result(
        "crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"categoryId": category}}
    )
    _deliveries(portal)
    assert [r["form"]["event"] for r in handler.received] == ["ONCRMDEALMOVETOCATEGORY"]
    form = handler.received[0]["form"]
    assert form["data[FIELDS][CATEGORY_ID]"] == str(category)
    assert form["data[FIELDS][STAGE_ID]"] == f"C{category}:NEW"


def test_bind_errors_and_handler_listing(portal: Portal) -> None:
    unknown = portal.oauth("event.bind", {"event": "ONNOTHING", "handler": "https://x/h"})
    assert unknown.status_code == 400
    assert unknown.get_json() == spec("errors/error.ERROR_EVENT_NOT_FOUND.400.json")
    assert (
        portal.oauth("event.bind", {"event": "ONCRMDEALADD", "handler": "https://x/h"}).status_code
        == 200
    )
    again = portal.oauth("event.bind", {"event": "ONCRMDEALADD", "handler": "https://x/h"})
    assert again.get_json() == spec("errors/error.ERROR_HANDLER_ALREADY_EXIST.json")
    listed = portal.oauth("event.get").get_json()
    example = spec("responses/event.get.response.json")
    assert set(listed["result"][0]) == set(example["result"][0])
    assert listed["result"][0]["event"] == "ONCRMDEALADD"
    gone = portal.oauth("event.unbind", {"event": "ONCRMDEALADD", "handler": "https://x/h"})
    assert gone.get_json()["result"] == {"count": 1}


def test_offline_events_coalesce_and_leave_out_our_own_writes(portal: Portal) -> None:
    bound = portal.oauth(
        "event.bind",
        {"event": "ONCRMDEALUPDATE", "event_type": "offline", "auth_connector": "sync"},
    )
    assert bound.get_json()["result"] is True
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "A"}})
    other_id = portal.result("crm.deal.add", {"fields": {"TITLE": "B"}})
    for title in ("A1", "A2", "A3"):
        portal.result("crm.deal.update", {"id": deal_id, "fields": {"TITLE": title}})
    portal.result(
        "crm.deal.update", {"id": other_id, "fields": {"TITLE": "ours"}, "auth_connector": "sync"}
    )
    body = portal.oauth("event.offline.get", {"auth_connector": "sync"}).get_json()
    example = spec("responses/event.offline.get.response.json")
    assert set(body["result"]) == set(example["result"])
    assert set(body["result"]["events"][0]) == set(example["result"]["events"][0])
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in body["result"]["events"]] == [str(deal_id)]
    assert body["result"]["process_id"] is None
    empty = portal.oauth("event.offline.get", {"auth_connector": "sync"}).get_json()
    assert empty["result"]["events"] == []


def test_offline_events_reserved_with_clear_0_until_cleared(portal: Portal) -> None:
    portal.oauth("event.bind", {"event": "ONCRMCONTACTADD", "event_type": "offline"})
    for name in ("A", "B", "C"):
        portal.result("crm.contact.add", {"fields": {"NAME": name}})
    reserved = portal.oauth("event.offline.get", {"clear": 0, "limit": 2}).get_json()["result"]
    assert reserved["process_id"] and len(reserved["events"]) == 2
    rest = portal.oauth("event.offline.get", {"clear": 0}).get_json()["result"]
    assert len(rest["events"]) == 1 and rest["process_id"] != reserved["process_id"]
    first = reserved["events"][0]["MESSAGE_ID"]
    portal.oauth(
        "event.offline.error", {"process_id": reserved["process_id"], "message_id": [first]}
    )
    portal.oauth("event.offline.clear", {"process_id": reserved["process_id"]})
    failed = portal.oauth("event.offline.get", {"error": 1}).get_json()["result"]["events"]
    assert [e["MESSAGE_ID"] for e in failed] == [first]
    listed = portal.oauth("event.offline.list").get_json()
    assert listed["total"] == 1 and listed["result"][0]["PROCESS_ID"] == rest["process_id"]


def test_offline_binding_through_a_webhook_is_refused(portal: Portal) -> None:
    body = portal.call("event.offline.get", status=403)
    assert body["error"] == "WRONG_AUTH_TYPE"


def test_install_callback_carries_both_tokens_and_the_application_token(
    portal: Portal, handler: Handler
) -> None:
    installed = portal.control("POST", "oauth/install", {"handler": handler.url})
    _deliveries(portal)
    form = handler.received[0]["form"]
    documented = _flatten("", spec("events/event_ONAPPINSTALL.json"))
    assert documented - set(form) == set()
    assert form["auth[access_token]"] == installed["access_token"]
    assert form["auth[refresh_token]"] == installed["refresh_token"]
    assert form["auth[application_token]"] == installed["application_token"]


def test_control_state_shows_what_the_portal_holds(portal: Portal) -> None:
    portal.control("POST", "act/contact", {"fields": {"NAME": "Olga", "PHONE": [{"VALUE": "+1"}]}})
    state = portal.control("GET", "state")
    assert [c["NAME"] for c in state["contacts"]] == ["Olga"]
    assert state["webhook"]["path"] == "/rest/1/sandboxtoken/"
    assert state["limits"]["bucket"]["burst"] == 50
    portal.control("POST", "reset")
    assert portal.control("GET", "state")["contacts"] == []
    assert portal.result("crm.contact.add", {"fields": {"NAME": "Again"}}) == 1
