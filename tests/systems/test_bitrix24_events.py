"""Bitrix24 events (parsing, verification, binding, offline queue) and `setup bitrix24`."""

from __future__ import annotations

import json

import pytest
import responses

from connector.errors import PermanentError
from connector.http import RetryPolicy
from connector.systems.bitrix24 import (
    Bitrix24Client,
    MemoryTokenStore,
    OAuthConnection,
    UserField,
    WebhookConnection,
)
from connector.systems.bitrix24 import events as ev
from connector.systems.bitrix24.setup import setup_bitrix24, user_fields_from_mappings

PORTAL = "https://portal.example/rest/"


def app_client() -> Bitrix24Client:
    store = MemoryTokenStore({"access_token": "a", "refresh_token": "r", "client_endpoint": PORTAL})
    return Bitrix24Client(
        OAuthConnection("app", "secret", store), retry=RetryPolicy(sleep=lambda s: None)
    )


def test_form_encoded_app_event_is_parsed_like_its_json_twin(spec):
    form = spec("bitrix24/events/event_ONCRMDEALUPDATE.app.form.txt")
    twin = spec("bitrix24/events/event_ONCRMDEALUPDATE.app.json")
    event = ev.parse_event(form.strip(), "application/x-www-form-urlencoded")
    same = ev.parse_event(json.dumps(twin), "application/json")
    assert event == same
    assert (event.name, event.entity_id) == ("ONCRMDEALUPDATE", "759")
    assert event.application_token == twin["auth"]["application_token"]


def test_outgoing_webhook_event_carries_only_the_reduced_auth(spec):
    event = ev.parse_event(spec("bitrix24/events/event_ONCRMDEALADD.outgoing-webhook.form.txt"))
    assert event.name == "ONCRMDEALADD" and event.entity_id
    assert "access_token" not in event.auth and event.application_token


def test_event_names_are_matched_case_insensitively():
    event = ev.parse_event("event=onCrmTimelineCommentAdd&data[FIELDS][ID]=5")
    assert event.name == "ONCRMTIMELINECOMMENTADD"


def test_verification_needs_the_right_token_and_portal(spec):
    event = ev.parse_event(json.dumps(spec("bitrix24/events/event_ONCRMCONTACTADD.app.json")))
    token, member = event.application_token, event.member_id
    assert ev.verify_event(event, token)
    assert ev.verify_event(event, token, member)
    assert not ev.verify_event(event, token, "another-portal")
    assert not ev.verify_event(event, "forged")
    assert not ev.verify_event(event, "")


def test_garbage_is_refused():
    with pytest.raises(PermanentError):
        ev.parse_event("hello=world")
    with pytest.raises(PermanentError):
        ev.parse_event("{not json", "application/json")


@responses.activate
def test_binding_reads_first_so_a_second_run_binds_nothing(spec):
    bound: list[dict] = []

    def get(request):
        return 200, {}, json.dumps({"result": bound})

    def bind(request):
        body = json.loads(request.body)
        bound.append(
            {
                "event": body["event"],
                "handler": body.get("handler", ""),
                "offline": 1 if body.get("event_type") == "offline" else 0,
            }
        )
        return 200, {}, json.dumps(spec("bitrix24/responses/event.bind.response.json"))

    responses.add_callback(responses.POST, PORTAL + "event.get", callback=get)
    responses.add_callback(responses.POST, PORTAL + "event.bind", callback=bind)
    client = app_client()
    handler = "https://connector.example/webhooks/bitrix24"
    assert ev.bind_online(client, handler, ev.DEAL_EVENTS) == list(ev.DEAL_EVENTS)
    assert ev.bind_online(client, handler, ev.DEAL_EVENTS) == []
    assert ev.bind_offline(client, ["ONCRMDEALUPDATE"]) == ["ONCRMDEALUPDATE"]
    assert ev.bind_offline(client, ["ONCRMDEALUPDATE"]) == []
    offline_call = [json.loads(c.request.body) for c in responses.calls if "bind" in c.request.url][
        -1
    ]
    assert offline_call["auth_connector"] == client.auth_connector


@responses.activate
def test_offline_events_are_reserved_then_confirmed(spec):
    answer = spec("bitrix24/responses/event.offline.get.response.json")
    answer["result"]["process_id"] = "p1"
    responses.post(PORTAL + "event.offline.get", json=answer)
    responses.post(PORTAL + "event.offline.clear", json={"result": True})
    client = app_client()
    batch = ev.read_offline(client)
    assert batch.process_id == "p1" and batch.events[0]["EVENT_NAME"] == "ONCRMLEADADD"
    assert json.loads(responses.calls[0].request.body)["clear"] == 0
    ev.confirm_offline(client, batch, ["1"])
    assert json.loads(responses.calls[1].request.body) == {
        "process_id": "p1",
        "message_id": ["1"],
        "auth_connector": "omnichannel_connector",  # the queue the events were read from
        "auth": "a",
    }


def test_user_fields_come_from_the_mapping_files(tmp_path):
    folder = tmp_path / "bitrix24"
    folder.mkdir()
    (folder / "contact.yaml").write_text(
        "custom_fields:\n  - {name: UF_CRM_BONUS_BALANCE, type: double, label: Bonus}\n"
        "fields:\n  - {to: UF_CRM_LOYALTY_CARD, from: card}\n  - {to: NAME, from: first_name}\n"
    )
    (folder / "deal.yaml").write_text("fields:\n  - {to: UF_CRM_SHOP_ORDER, from: number}\n")
    found = user_fields_from_mappings(tmp_path)
    contact = {field.field_name: field.type for field in found["contact"]}
    assert contact == {"UF_CRM_BONUS_BALANCE": "double", "UF_CRM_LOYALTY_CARD": "string"}
    assert [field.field_name for field in found["deal"]] == ["UF_CRM_SHOP_ORDER"]


@responses.activate
def test_setup_with_an_inbound_webhook_prints_the_outgoing_webhook_settings():
    hook = "https://portal.example/rest/1/code/"
    responses.post(hook + "crm.contact.fields", json={"result": {"ID": {}}})
    responses.post(hook + "crm.deal.userfield.list", json={"result": []})
    responses.post(hook + "crm.deal.userfield.add", json={"result": 7})
    client = Bitrix24Client(WebhookConnection(hook))
    report = setup_bitrix24(
        client,
        public_url="https://connector.example",
        user_fields={"deal": [UserField("SHOP_ORDER")]},
    )
    text = "\n".join(report.lines)
    assert "Handler URL: https://connector.example/webhooks/bitrix24" in text
    assert "ONCRMDEALUPDATE" in text and "CONNECTOR_BITRIX24_APPLICATION_TOKEN" in text
    assert "1 created: UF_CRM_SHOP_ORDER" in text
    assert not any("event.bind" in c.request.url for c in responses.calls)


def test_install_event_gives_the_credentials_to_store(spec):
    event = ev.parse_event(json.dumps(spec("bitrix24/events/event_ONAPPINSTALL.json")))
    stored = ev.install_credentials(event)
    assert stored["refresh_token"] and stored["application_token"] == event.application_token
    store = MemoryTokenStore(stored)
    assert ev.expected_application_token(None, store) == event.application_token
    assert ev.expected_application_token("pinned", store) == "pinned"
    with pytest.raises(PermanentError):
        ev.install_credentials(ev.parse_event("event=ONCRMDEALADD&data[FIELDS][ID]=1"))
