"""WhatsApp Cloud API as a cascade channel: template sends and Graph errors typed, the webhook's
handshake and signature, statuses into `record_status`, STOP/START as opt-out/opt-in, and one
send through the emulator whose signed statuses come back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses
from sqlalchemy import select

from connector.app import create_app
from connector.cascades.channels import Message
from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import NO_RETRY
from connector.services import Services
from connector.store.tables import tasks
from connector.systems.whatsapp.channel import CHANNEL
from connector.systems.whatsapp.client import template_components
from connector.systems.whatsapp.routes import signature
from connector.systems.whatsapp.setup import setup_whatsapp
from connector.worker import Worker
from tests.channels import sends
from tests.channels.sends import (
    a_send,
    contract_of,
    emulator_settings,
    opened,
    rows_in,
    run_tasks,
    served,
    work_until,
)
from tests.support import make_settings

TOKEN = "wa-access-token"
APP_SECRET = "wa-app-secret"
VERIFY = "wa-verify-token"
NUMBER_ID = "1065403522"
URL = "https://graph.test"
MESSAGES = f"{URL}/v21.0/{NUMBER_ID}/messages"
PHONE = "77011234567"
WAMID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgARGBI"


@pytest.fixture
def services(tmp_path: Path):
    with opened(
        make_settings(
            tmp_path,
            whatsapp_url=URL,
            whatsapp_access_token=TOKEN,
            whatsapp_phone_number_id=NUMBER_ID,
            whatsapp_app_secret=APP_SECRET,
            whatsapp_verify_token=VERIFY,
        )
    ) as built:
        built.client("whatsapp").retry = NO_RETRY
        yield built


def accepted(wamid: str = WAMID) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": PHONE, "wa_id": PHONE}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }


def graph_error(code: int, message: str = "refused", details: str = "") -> dict:
    error: dict = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def a_step(**fields) -> Message:
    given = {"template": "cart_reminder", "variables": {"first_name": "Olena"}} | fields
    return Message(key="9:2", customer_id="c1", address=PHONE, **given)


def notification(**value) -> dict:
    metadata = {"display_phone_number": "77010000000", "phone_number_id": NUMBER_ID}
    change = {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1022", "changes": [{**change, "field": "messages"}]}],
    }


def a_status(status: str, wamid: str = WAMID, at: int = 1_796_000_000, **extra) -> dict:
    return {"id": wamid, "status": status, "timestamp": str(at), "recipient_id": PHONE, **extra}


def an_inbound(text: str) -> dict:
    return {
        "from": PHONE,
        "id": "wamid.IN1",
        "timestamp": "1796000000",
        "type": "text",
        "text": {"body": text},
    }


def post(services: Services, body: dict | list | bytes, signed: str | None = "good"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signed == "good":
        headers["X-Hub-Signature-256"] = signature(APP_SECRET, raw)
    elif signed is not None:
        headers["X-Hub-Signature-256"] = signed
    return create_app(services).test_client().post("/webhooks/whatsapp", data=raw, headers=headers)


def a_message(services: Services, provider_id: str = WAMID) -> None:
    """A WhatsApp message of run 1, step 2 to PHONE, sent and still queued."""
    a_send(services, provider_id, channel="whatsapp", medium="messenger", address=PHONE, step=2)


def status_of(services: Services, provider_id: str = WAMID) -> str | None:
    """The last status of the message WAMID (or of `provider_id`)."""
    return sends.status_of(services, provider_id)


def opted_out(services: Services) -> str | None:
    """Why PHONE is opted out of every scenario's messengers, or None."""
    return sends.opted_out(services, "messenger", PHONE)


# -- the client and the channel ---------------------------------------------------------------


def test_the_channel_is_found_by_name_and_keeps_the_contract(services):
    assert contract_of(services, "whatsapp") == ("whatsapp", "messenger", False)


@pytest.mark.parametrize(
    ("customer", "address"),
    [({"phone": "+7 701 123-45-67"}, PHONE), ({"phone": None}, None), ({"phone": "12"}, None)],
)
def test_the_address_is_the_phone_in_digits_as_whatsapp_wants_to(services, customer, address):
    assert CHANNEL.address(services, customer) == address


@responses.activate
def test_a_step_sends_its_template_with_named_parameters_and_is_queued(services):
    responses.post(MESSAGES, json=accepted())
    sent = CHANNEL.send(services, a_step())
    assert (sent.provider_id, sent.status) == (WAMID, "queued")
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "template",
        "template": {
            "name": "cart_reminder",
            "language": {"code": "ru"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "first_name", "text": "Olena"}
                    ],
                }
            ],
        },
    }


def test_numbered_variables_are_positional_parameters_in_their_order():
    [body] = template_components({"2": "5 200 ₸", "1": "A-1001"})
    assert [p["text"] for p in body["parameters"]] == ["A-1001", "5 200 ₸"]
    assert all("parameter_name" not in p for p in body["parameters"])


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (401, graph_error(190, "Error validating access token"), AuthError, None),
        (400, graph_error(130429, "(#130429) Rate limit hit"), RateLimited, None),
        (400, graph_error(131026, "Message undeliverable"), PermanentError, "131026"),
        (400, graph_error(131047, "Re-engagement message"), PermanentError, "131047"),
        (400, graph_error(131049, "Meta chose not to deliver"), PermanentError, "131049"),
        (404, graph_error(132001, "Template name does not exist"), PermanentError, "132001"),
        (500, graph_error(131000, "Something went wrong"), TransientError, None),
        (503, {"oops": True}, TransientError, None),
    ],
)
@responses.activate
def test_each_graph_error_is_the_error_the_queue_acts_on(services, status, body, error, code):
    responses.post(MESSAGES, json=body, status=status)
    with pytest.raises(error) as raised:
        CHANNEL.send(services, a_step())
    if code is not None:
        assert raised.value.code == code
    assert TOKEN not in str(raised.value)
    assert opted_out(services) is None


@responses.activate
def test_a_user_who_stopped_marketing_messages_is_opted_out_when_meta_says_so(services):
    responses.post(MESSAGES, json=graph_error(131050, "User stopped marketing"), status=400)
    with pytest.raises(PermanentError):
        CHANNEL.send(services, a_step())
    assert opted_out(services) == "stopped marketing messages"


@responses.activate
def test_a_send_lost_on_the_way_back_is_not_sent_again(services):
    services.client("whatsapp").retry = type(NO_RETRY)(sleep=lambda _: None)
    responses.post(MESSAGES, body=requests.exceptions.ReadTimeout("no answer"))
    with pytest.raises(TransientError):
        CHANNEL.send(services, a_step())
    assert len(responses.calls) == 1


# -- the webhook --------------------------------------------------------------------------------


def test_the_subscription_handshake_echoes_the_challenge_only_for_our_verify_token(services):
    client = create_app(services).test_client()
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    answer = client.get("/webhooks/whatsapp", query_string=query)
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "1158201444")
    wrong = client.get("/webhooks/whatsapp", query_string=query | {"hub.verify_token": "x"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.get_data(as_text=True)


def test_signed_statuses_are_recorded_and_an_older_one_never_overwrites_a_newer(services):
    a_message(services)
    body = notification(statuses=[a_status("delivered"), a_status("sent")])
    assert post(services, body).get_json()["status"] == "accepted"
    run_tasks(services)
    assert status_of(services) == "delivered"
    post(services, notification(statuses=[a_status("read", at=1_796_000_100)]))
    run_tasks(services)
    assert status_of(services) == "read"


@pytest.mark.parametrize(("code", "status"), [(131026, "undelivered"), (131047, "failed")])
def test_a_failed_status_maps_by_its_error_code(services, code, status):
    a_message(services)
    failed = a_status("failed", errors=[{"code": code, "title": "refused"}])
    post(services, notification(statuses=[failed]))
    run_tasks(services)
    assert status_of(services) == status


def test_a_stop_reply_opts_the_number_out_and_start_lets_it_in_again(services):
    post(services, notification(messages=[an_inbound(" stop ")]))
    run_tasks(services)
    assert opted_out(services) == "STOP reply"
    post(services, notification(messages=[an_inbound("Старт")]))
    run_tasks(services)
    assert opted_out(services) is None


@pytest.mark.parametrize("signed", [None, "sha256=" + "0" * 64, "tampered"])
def test_an_unsigned_or_tampered_notification_is_refused_and_nothing_stored(services, signed):
    raw = json.dumps(notification(statuses=[a_status("read")])).encode()
    if signed == "tampered":
        signed = signature(APP_SECRET, raw)
        raw = raw.replace(b"read", b"sent")
    assert post(services, raw, signed=signed).status_code == 401
    assert rows_in(services) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"object": "whatsapp_business_account"}, "entry"),
        (notification(statuses=[{"status": "sent"}]), "statuses[0].id"),
        (notification(statuses=[a_status("sent") | {"timestamp": "soon"}]), "timestamp"),
        (notification(messages=[{"id": "x"}]), "messages[0].from"),
        (notification(messages=[an_inbound("STOP") | {"from": "7" * 400}]), "from"),
        ([1], "body"),
    ],
)
def test_a_signed_body_we_cannot_read_is_a_400_naming_the_field(services, body, field):
    answer = post(services, body)
    assert answer.status_code == 400 and field in answer.get_json()["message"]
    assert rows_in(services) == 0


# -- through the emulator ---------------------------------------------------------------------


def test_a_template_sent_through_the_emulator_once_comes_back_delivered_then_read(
    tmp_path, sandbox
):
    sandbox.reset()
    with served(emulator_settings(tmp_path, sandbox, "whatsapp")) as services:
        lines = setup_whatsapp(services.client("whatsapp"), services.settings)
        assert lines[-1].endswith("verified and subscribed (sandbox)")
        sent = CHANNEL.send(services, a_step())
        a_message(services, sent.provider_id)
        worker = Worker(services, threads=1)
        work_until(worker, lambda: status_of(services, sent.provider_id) == "delivered")
        sandbox.control("whatsapp", "POST", f"/messages/{sent.provider_id}/read")
        work_until(worker, lambda: status_of(services, sent.provider_id) == "read")
        log = sandbox.control("whatsapp", "GET", "/messages", params={"to": PHONE}).json()
        assert log["count"] == 1
        assert log["messages"][0]["statuses"] == ["accepted", "sent", "delivered", "read"]
        sandbox.control("whatsapp", "POST", "/inbound", json={"from": PHONE, "text": "STOP"})
        work_until(worker, lambda: opted_out(services))
        deliveries = sandbox.control("whatsapp", "GET", "/deliveries").json()
        assert len(deliveries) == 4 and {d["status"] for d in deliveries} == {200}


def test_a_status_quicker_than_its_send_waits_for_it_and_an_old_stranger_is_dropped(services):
    now = int(services.queue.clock())
    post(services, notification(statuses=[a_status("delivered", "wamid.OLD")]))
    post(services, notification(statuses=[a_status("delivered", at=now)]))
    run_tasks(services)
    with services.engine.connect() as connection:
        waiting = connection.execute(
            select(tasks.c.state, tasks.c.attempts).where(tasks.c.kind == "whatsapp.webhook")
        ).all()
    assert sorted(state for state, _ in waiting) == ["done", "queued"]  # the fresh one waits
    assert all(attempts == 0 for state, attempts in waiting if state == "queued")
