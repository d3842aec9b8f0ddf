"""Mailchimp Transactional (Mandrill) as a cascade channel: the client against `responses`
(Mandrill's wire format, each error class, the search limit), the channel's send and lookup,
and the signed webhook of message events down to `record_status` and the opt-outs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import responses

from connector.app import create_app
from connector.cascades.channels import Message, Sent, channel
from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import RetryPolicy
from connector.services import Services
from connector.systems.mandrill import webhooks as mandrill_webhooks
from connector.systems.mandrill.client import MandrillClient
from tests.channels.sends import (
    a_send,
    contract_of,
    opened,
    opted_out,
    post_form,
    rows_in,
    run_tasks,
    status_of,
)
from tests.support import SPECS, make_settings

API = "https://mandrillapp.com/api/1.0"
KEY = "md-test-api-key"
WEBHOOK_KEY = "md-test-webhook-key"
HOOK_URL = "http://localhost/webhooks/mandrill"  # what the test client's requests arrive at


def spec(name: str) -> Any:
    return json.loads((SPECS / "mandrill" / name).read_text(encoding="utf-8"))


@pytest.fixture
def services(tmp_path: Path):
    with opened(
        make_settings(
            tmp_path,
            mandrill_api_key=KEY,
            mandrill_url=API,
            mandrill_webhook_key=WEBHOOK_KEY,
            mandrill_from_email="shop@example.com",
        )
    ) as built:
        built.client("mandrill").retry = RetryPolicy(attempts=3, sleep=lambda _: None)
        yield built


def message(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "key": "17:1",
        "customer_id": "c-42",
        "address": "olena@example.com",
        "template": "abandoned-cart",
        "variables": {"FIRST_NAME": "Olena", "TOTAL": 1250},
    }
    return Message(**(values | changes))


def sent_body(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


def reserve(services: Services, key: str = "17:1", provider_id: str | None = None) -> None:
    """The send row the cascade engine keeps for a step (what record_status finds)."""
    a_send(
        services,
        provider_id,
        channel="mandrill",
        medium="email",
        address="olena@example.com",
        run_id=17,
        key=key,
        customer_id="c-42",
        marketing=1,
        status="sent",
        at=1.0,
    )


# -- the channel's send --------------------------------------------------------------------------


def test_mandrill_is_a_channel_of_the_registry(services):
    assert contract_of(services, "mandrill") == ("mandrill", "email", True)


@responses.activate
def test_a_template_step_goes_out_with_send_template_and_the_steps_key_in_its_metadata(services):
    responses.post(
        f"{API}/messages/send-template.json",
        json=[{"email": "olena@example.com", "status": "sent", "_id": "abc123"}],
    )
    sent = channel(services, "mandrill").send(services, message())
    assert sent == Sent("abc123", "sent")
    body = sent_body(responses.calls[0])
    assert body["key"] == KEY
    assert body["template_name"] == "abandoned-cart"
    assert body["message"]["to"] == [{"email": "olena@example.com", "type": "to"}]
    assert body["message"]["metadata"] == {"connector_key": "17:1", "customer_id": "c-42"}
    assert {"name": "TOTAL", "content": 1250} in body["message"]["global_merge_vars"]
    assert body["message"]["from_email"] == "shop@example.com"
    # the shape matches the documented example
    assert set(body) == set(spec("send-template.request.json"))


@responses.activate
def test_a_step_without_a_template_sends_its_subject_and_text(services):
    responses.post(
        f"{API}/messages/send.json",
        json=[{"email": "olena@example.com", "status": "queued", "_id": "q1"}],
    )
    sent = channel(services, "mandrill").send(
        services, message(template=None, subject="Your cart", text="Come back")
    )
    assert sent == Sent("q1", "queued")
    body = sent_body(responses.calls[0])
    assert (body["message"]["subject"], body["message"]["text"]) == ("Your cart", "Come back")


def test_a_step_with_neither_template_nor_text_is_refused_before_calling(services):
    with pytest.raises(PermanentError, match="template"):
        channel(services, "mandrill").send(services, message(template=None))


@responses.activate
def test_a_recipient_rejected_as_unsubscribed_fails_for_good_and_opts_the_address_out(services):
    responses.post(f"{API}/messages/send-template.json", json=spec("send.response.json")[1:])
    with pytest.raises(PermanentError) as error:
        channel(services, "mandrill").send(services, message(address="gone@example.com"))
    assert error.value.code == "rejected:unsub"
    assert opted_out(services, "email", "gone@example.com") == "mandrill unsubscribe"


@responses.activate
def test_an_invalid_or_bounced_recipient_fails_for_good_without_an_opt_out(services):
    responses.post(
        f"{API}/messages/send-template.json",
        json=[{"email": "x@example.com", "status": "rejected", "reject_reason": "hard-bounce"}],
    )
    with pytest.raises(PermanentError) as error:
        channel(services, "mandrill").send(services, message(address="x@example.com"))
    assert error.value.code == "rejected:hard-bounce"
    assert opted_out(services, "email", "x@example.com") is None


@responses.activate
def test_a_wrong_key_is_an_auth_error(services):
    responses.post(
        f"{API}/messages/send-template.json", json=spec("error.invalid_key.json"), status=500
    )
    with pytest.raises(AuthError, match="Invalid_Key"):
        channel(services, "mandrill").send(services, message())


@responses.activate
def test_an_unknown_template_is_permanent_with_mandrills_name_as_its_code(services):
    error_body = {"status": "error", "code": 5, "name": "Unknown_Template", "message": "No such"}
    responses.post(f"{API}/messages/send-template.json", json=error_body, status=500)
    with pytest.raises(PermanentError) as error:
        channel(services, "mandrill").send(services, message())
    assert error.value.code == "Unknown_Template"


@responses.activate
def test_a_general_error_is_transient_and_a_send_is_never_repeated_after_it(services):
    error_body = {"status": "error", "code": -1, "name": "GeneralError", "message": "oops"}
    responses.post(f"{API}/messages/send-template.json", json=error_body, status=500)
    with pytest.raises(TransientError):
        channel(services, "mandrill").send(services, message())
    assert len(responses.calls) == 1  # a send may have gone: find_sent asks, nothing re-sends


@responses.activate
def test_a_send_whose_answer_was_lost_is_not_sent_again(services):
    responses.post(f"{API}/messages/send-template.json", body=requests.exceptions.ReadTimeout())
    with pytest.raises(TransientError):
        channel(services, "mandrill").send(services, message())
    assert len(responses.calls) == 1


# -- the lookup ----------------------------------------------------------------------------------


@responses.activate
def test_find_sent_searches_the_address_and_recognises_the_steps_key(services):
    found = spec("search.response.json")
    found.insert(0, found[0] | {"_id": "other", "metadata": {"connector_key": "16:1"}})
    responses.post(f"{API}/messages/search.json", json=found)
    since = 1796356000.0  # 2026-12-04 03:46 UTC
    sent = channel(services, "mandrill").find_sent(services, message(), since)
    assert sent == Sent("abc123abc123abc123abc123abc123", "delivered")
    body = sent_body(responses.calls[0])
    assert body["query"] == "email:olena@example.com"
    assert body["date_from"] == "2026-12-03"  # a day early
    assert channel(services, "mandrill").find_sent(services, message(key="99:1"), since) is None


@responses.activate
def test_a_search_past_twenty_a_minute_waits_as_mandrill_says():
    responses.post(f"{API}/messages/search.json", status=429, headers={"Retry-After": "42"})
    client = MandrillClient(API, KEY, retry=RetryPolicy(max_wait=1.0))
    with pytest.raises(RateLimited) as error:
        client.search("email:olena@example.com")
    assert error.value.wait == 42.0
    responses.replace(responses.POST, f"{API}/messages/search.json", status=429)
    with pytest.raises(RateLimited) as error:
        client.search("email:olena@example.com")
    assert error.value.wait == 60.0  # no header: a minute after the first of the twenty


def test_the_address_is_the_customers_email_and_none_without_one(services):
    mandrill = channel(services, "mandrill")
    assert mandrill.address(services, {"email": " Olena@Example.com "}) == "olena@example.com"
    assert mandrill.address(services, {"email": None, "phone": "+77011234567"}) is None


# -- the webhook of message events ---------------------------------------------------------------


def deliver(app: Any, events: Any, key: str = WEBHOOK_KEY, signature: str | None = None) -> Any:
    fields = {"mandrill_events": events if isinstance(events, str) else json.dumps(events)}
    signed = mandrill_webhooks.signature(key, HOOK_URL, fields.items())
    headers = {} if signature == "" else {"X-Mandrill-Signature": signature or signed}
    return post_form(app.test_client(), "/webhooks/mandrill", urlencode(fields), **headers)


def test_a_signed_batch_moves_the_sends_status_and_opts_out_unsubscribes_and_bounces(services):
    reserve(services, provider_id="abc123abc123abc123abc123abc123")
    app = create_app(services)
    answer = deliver(app, spec("webhook.message_events.json"))
    assert answer.status_code == 200, answer.get_json()
    run_tasks(services)
    assert status_of(services, "abc123abc123abc123abc123abc123") == "read"  # send, then open
    assert opted_out(services, "email", "nobody@example.com") == "mandrill hard bounce"
    assert opted_out(services, "email", "leaving@example.com") == "mandrill unsubscribe"
    assert opted_out(services, "email", "olena@example.com") is None
    assert deliver(app, spec("webhook.message_events.json")).get_json()["status"] == "duplicate"


def test_a_late_send_event_never_takes_back_a_read(services):
    reserve(services, provider_id="m1")
    app = create_app(services)
    open_event = {"event": "open", "_id": "m1", "ts": 200, "msg": {"email": "olena@example.com"}}
    send_event = open_event | {"event": "send", "ts": 100}
    assert deliver(app, [open_event]).status_code == 200
    assert deliver(app, [send_event]).status_code == 200
    run_tasks(services)
    assert status_of(services, "m1") == "read"


def test_a_forged_or_unsigned_batch_is_refused_and_nothing_is_stored(services):
    app = create_app(services)
    events = spec("webhook.message_events.json")
    assert deliver(app, events, key="not-the-key").status_code == 401
    assert deliver(app, events, signature="").status_code == 401
    tampered = deliver(
        app, events, signature=mandrill_webhooks.signature(WEBHOOK_KEY, HOOK_URL, [])
    )
    assert tampered.status_code == 401
    assert rows_in(services) == 0


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ("not json", "mandrill_events: not JSON"),
        ({"event": "send"}, "mandrill_events: not a JSON array"),
        ([{"event": "send", "ts": 1}], "mandrill_events[0]._id"),
        ([{"event": "open", "_id": "m1", "ts": "yesterday"}], "mandrill_events[0].ts"),
        ([{"_id": "m1", "ts": 1}], "mandrill_events[0].event"),
    ],
)
def test_a_batch_that_cannot_be_read_is_a_400_naming_the_field(services, events, field):
    answer = deliver(create_app(services), events)
    assert answer.status_code == 400
    assert field in answer.get_json()["message"]
    assert rows_in(services) == 0


def test_mandrills_check_of_a_new_webhook_is_answered(services):
    client = create_app(services).test_client()
    assert client.head("/webhooks/mandrill").status_code == 200
    assert client.get("/webhooks/mandrill").status_code == 200


def test_without_the_webhook_key_every_batch_is_refused_saying_which_setting(tmp_path):
    with opened(make_settings(tmp_path, mandrill_api_key=KEY, mandrill_url=API)) as unkeyed:
        answer = deliver(create_app(unkeyed), spec("webhook.message_events.json"))
        assert answer.status_code == 401
        assert "CONNECTOR_MANDRILL_WEBHOOK_KEY" in answer.get_json()["message"]
        assert rows_in(unkeyed) == 0


@responses.activate
def test_setup_adds_the_webhook_once_and_says_where_its_key_goes(tmp_path):
    from connector.systems.mandrill.setup import run_setup

    settings = make_settings(
        tmp_path, mandrill_api_key=KEY, mandrill_url=API, public_url="https://c.example.com"
    )
    url = "https://c.example.com/webhooks/mandrill"
    responses.post(f"{API}/users/ping.json", json="PONG!")
    responses.post(f"{API}/webhooks/list.json", json=[])
    responses.post(f"{API}/webhooks/add.json", json={"id": 1, "url": url, "auth_key": "made"})
    lines = run_setup(settings)
    assert f"mandrill: webhook added: {url}" in lines
    assert any("CONNECTOR_MANDRILL_WEBHOOK_KEY" in line for line in lines)
    assert "made" not in " ".join(lines)  # the key is never printed
    added = json.loads(responses.calls[2].request.body)
    assert added["url"] == url and "unsub" in added["events"]
    responses.replace(responses.POST, f"{API}/webhooks/list.json", json=[{"id": 1, "url": url}])
    assert f"mandrill: webhook present: {url}" in run_setup(settings)
