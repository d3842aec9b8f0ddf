"""Twilio as a cascade channel: the client's typed answers, `find_sent` by listing, the
X-Twilio-Signature on status callbacks and replies, STOP/START as opt-out and opt-in, and one
story through the emulator."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses

from connector.app import create_app
from connector.cascades.channels import Message
from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import RetryPolicy
from connector.services import Services
from connector.systems.twilio.channel import CHANNEL, canonical_status
from connector.systems.twilio.client import TwilioClient, Unsubscribed
from connector.systems.twilio.webhooks import keyword, signature, verify
from connector.worker import Worker
from tests.channels.sends import (
    FORM,
    a_send,
    contract_of,
    emptied,
    module_store,
    opted_out,
    rows_in,
    run_tasks,
    served,
    status_of,
    work_until,
)
from tests.support import make_settings

SID = "AC" + "1" * 32
TOKEN = "twilio-test-token"
URL = "https://twilio.test"
MESSAGES = f"{URL}/2010-04-01/Accounts/{SID}/Messages.json"
PUBLIC = "https://connector.example.com"
PHONE = "+79251234567"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """The module's one store; `services` empties it for each test."""
    yield from module_store(
        tmp_path_factory,
        twilio_url=URL,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number="+15005550006",
        public_url=PUBLIC,
    )


@pytest.fixture
def services(shared: Services) -> Services:
    return emptied(shared)


def client() -> TwilioClient:
    return TwilioClient(
        URL, SID, TOKEN, from_number="+15005550006", retry=RetryPolicy(sleep=lambda _: None)
    )


def refusal(code: int, status: int) -> dict:
    return {
        "code": code,
        "message": "refused",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def an_sms(services: Services, provider_id: str) -> None:
    """An SMS of run 1, step 1 to PHONE, sent through Twilio and still queued."""
    a_send(services, provider_id, channel="twilio", medium="sms", address=PHONE)


# -- the client -------------------------------------------------------------------------------


@responses.activate
def test_a_send_posts_the_messages_form_with_basic_auth_and_our_status_callback():
    responses.post(MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
    answer = client().send(PHONE, "Корзина ждёт", status_callback=f"{PUBLIC}/cb")
    assert answer["sid"] == "SM1"
    request = responses.calls[0].request
    assert parse_qs(request.body) == {
        "To": [PHONE],
        "Body": ["Корзина ждёт"],
        "From": ["+15005550006"],
        "StatusCallback": [f"{PUBLIC}/cb"],
    }
    assert request.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "code"),
    [
        (400, refusal(21211, 400), {}, PermanentError, "21211"),
        (400, refusal(21610, 400), {}, Unsubscribed, "21610"),
        (429, refusal(20429, 429), {"Retry-After": "3"}, RateLimited, None),
        (401, refusal(20003, 401), {}, AuthError, None),
        (503, {}, {}, TransientError, None),
    ],
    ids=["invalid To", "unsubscribed", "too many requests", "bad credentials", "server error"],
)
@responses.activate
def test_each_twilio_refusal_is_the_error_the_queue_acts_on(status, body, headers, error, code):
    responses.post(MESSAGES, status=status, json=body, headers=headers)
    with pytest.raises(error) as raised:
        TwilioClient(
            URL, SID, TOKEN, from_number="+15005550006", retry=RetryPolicy(attempts=1)
        ).send(PHONE, "hi")
    assert getattr(raised.value, "code", None) == code
    if error is RateLimited:
        assert raised.value.wait == 3.0


@responses.activate
def test_find_sent_pages_through_the_numbers_messages_and_matches_the_body(services):
    first = {
        "messages": [{"sid": "SMa", "body": "other", "status": "delivered"}],
        "next_page_uri": f"/2010-04-01/Accounts/{SID}/Messages.json?To=x&Page=1",
    }
    second = {
        "messages": [{"sid": "SMb", "body": "Скидка 10%", "status": "sent"}],
        "next_page_uri": None,
    }
    responses.get(MESSAGES, json=first)
    responses.get(MESSAGES, json=second)
    message = Message(key="3:2", customer_id="c1", address=PHONE, text="Скидка 10%")
    since = dt.datetime(2026, 12, 4, 10, 0, 5, tzinfo=dt.UTC).timestamp()
    found = CHANNEL.find_sent(services, message, since)
    assert found is not None and (found.provider_id, found.status) == ("SMb", "sent")
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["To"] == [PHONE] and query["DateSent>"] == ["2026-12-04T10:00:04Z"]


@responses.activate
def test_without_a_text_to_compare_find_sent_takes_the_first_message_from_us_since(services):
    listed = {
        "messages": [
            {"sid": "SMlater", "from": "+15005550006", "body": "b", "status": "delivered"},
            {"sid": "SMother", "from": "+15550000000", "body": "a", "status": "delivered"},
            {"sid": "SMfirst", "from": "+15005550006", "body": "a", "status": "sent"},
        ],
        "next_page_uri": None,
    }
    responses.get(MESSAGES, json=listed)
    held = Message(key="3:2", customer_id="c1", address=PHONE)  # what a retry knows
    found = CHANNEL.find_sent(services, held, time.time() - 60)
    assert found is not None and found.provider_id == "SMfirst"
    responses.replace(responses.GET, MESSAGES, json={"messages": listed["messages"][1:2]})
    assert CHANNEL.find_sent(services, held, time.time() - 60) is None


@responses.activate
def test_a_21610_refusal_opts_the_number_out_of_sms_for_every_scenario(services):
    responses.post(MESSAGES, status=400, json=refusal(21610, 400))
    with pytest.raises(Unsubscribed):
        CHANNEL.send(services, Message(key="4:1", customer_id="c1", address=PHONE, text="hi"))
    assert opted_out(services, "sms", PHONE) == "twilio 21610 (STOP)"


def test_the_channel_is_found_by_name_and_keeps_the_contract(services):
    assert contract_of(services, "twilio") == ("twilio", "sms", True)
    assert CHANNEL.address(services, {"phone": "8 925 123-45-67"}) == PHONE
    assert CHANNEL.address(services, {"phone": None}) is None


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("accepted", "queued"),
        ("sending", "queued"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("undelivered", "undelivered"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_twilio_statuses_map_to_the_canonical_ones(given, status):
    assert canonical_status(given) == status


# -- signatures -------------------------------------------------------------------------------

DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_FIELDS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]


def test_the_signature_is_twilios_own_test_vector():
    # twilio-python tests/unit/test_request_validator.py (specs/twilio/README.md)
    assert signature("12345", DOCS_URL, DOCS_FIELDS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature("12345", DOCS_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_a_signature_made_with_or_without_the_default_port_holds_and_a_tampered_one_does_not():
    with_port = DOCS_URL.replace(".com", ".com:443")
    assert verify("12345", [DOCS_URL], DOCS_FIELDS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert verify("12345", [with_port], DOCS_FIELDS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    tampered = [*DOCS_FIELDS[:-1], ("Caller", "+10000000000")]
    assert not verify("12345", [DOCS_URL], tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not verify(None, [DOCS_URL], DOCS_FIELDS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


# -- the webhook routes -----------------------------------------------------------------------


def post_signed(app_client, path: str, fields: dict[str, str], token: str = TOKEN, **changes):
    pairs = list(fields.items())
    headers = {"X-Twilio-Signature": signature(token, PUBLIC + path, pairs)}
    body = urlencode({**fields, **changes})  # `changes`: fields altered after signing
    return app_client.post(path, data=body, content_type=FORM, headers=headers)


def status_fields(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": SID,
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": PHONE,
        **extra,
    }


def test_a_signed_status_callback_records_the_status_on_the_send(services):
    an_sms(services, "SM1")
    app_client = create_app(services).test_client()
    response = post_signed(app_client, "/webhooks/twilio/status", status_fields("SM1", "delivered"))
    assert response.status_code == 200
    run_tasks(services)
    assert status_of(services, "SM1") == "delivered"


def test_a_failure_with_21610_opts_the_number_out(services):
    an_sms(services, "SM2")
    fields = status_fields("SM2", "failed", ErrorCode="21610")
    post_signed(create_app(services).test_client(), "/webhooks/twilio/status", fields)
    run_tasks(services)
    assert status_of(services, "SM2") == "failed"
    assert opted_out(services, "sms", PHONE) == "twilio 21610 (STOP)"


@pytest.mark.parametrize(
    ("case", "status", "names"),
    [
        ("tampered", 401, "X-Twilio-Signature: does not match"),
        ("missing", 401, "X-Twilio-Signature: missing"),
        ("other token", 401, "X-Twilio-Signature: does not match"),
        ("no status", 400, "MessageStatus: missing"),
    ],
)
def test_a_callback_not_from_twilio_or_unreadable_is_refused_and_nothing_stored(
    services, case, status, names
):
    app_client = create_app(services).test_client()
    fields = status_fields("SM3", "delivered")
    path = "/webhooks/twilio/status"
    if case == "tampered":
        response = post_signed(app_client, path, fields, MessageStatus="read")
    elif case == "missing":
        response = app_client.post(path, data=urlencode(fields), content_type=FORM)
    elif case == "other token":
        response = post_signed(app_client, path, fields, token="someone-else")
    else:
        response = post_signed(app_client, path, {"AccountSid": SID, "MessageSid": "SM3"})
    assert response.status_code == status
    assert response.get_json()["message"] == names
    assert rows_in(services) == 0


def inbound_fields(body: str, sender: str = PHONE, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": SID,
        "Body": body,
        "From": sender,
        "MessageSid": "SM" + uuid.uuid4().hex,
        "To": "+15005550006",
        **extra,
    }


@pytest.mark.parametrize("word", ["STOP", " stop ", "Unsubscribe"])
def test_a_stop_word_reply_opts_the_sender_out_of_sms_and_is_answered_with_empty_twiml(
    services, word
):
    app_client = create_app(services).test_client()
    response = post_signed(app_client, "/webhooks/twilio/inbound", inbound_fields(word))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert "<Response></Response>" in response.get_data(as_text=True)
    run_tasks(services)
    assert opted_out(services, "sms", PHONE) == "STOP reply"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        *[(w, "stop") for w in ("STOPALL", "cancel", "End", "QUIT")],
        ("UNSTOP", "start"),
        ("Start", "start"),
        ("please stop", None),
        ("", None),
    ],
)
def test_twilios_opt_out_and_opt_in_keywords_are_whole_replies_in_any_case(text, word):
    assert keyword(text) == word


def test_start_opts_back_in_and_an_ordinary_reply_changes_nothing(services):
    app_client = create_app(services).test_client()
    post_signed(app_client, "/webhooks/twilio/inbound", inbound_fields("STOP"))
    run_tasks(services)
    post_signed(app_client, "/webhooks/twilio/inbound", inbound_fields("Thanks, stop by later"))
    run_tasks(services)
    assert opted_out(services, "sms", PHONE) == "STOP reply"
    post_signed(app_client, "/webhooks/twilio/inbound", inbound_fields("start"))
    run_tasks(services)
    assert opted_out(services, "sms", PHONE) is None


# -- through the emulator ---------------------------------------------------------------------


def test_a_step_through_the_emulator_is_delivered_then_a_stop_reply_silences_the_number(
    tmp_path, sandbox
):
    sandbox.reset()
    env = sandbox.settings_env()
    settings = make_settings(
        tmp_path,
        twilio_url=env["CONNECTOR_TWILIO_URL"],
        twilio_account_sid=env["CONNECTOR_TWILIO_ACCOUNT_SID"],
        twilio_auth_token=env["CONNECTOR_TWILIO_AUTH_TOKEN"],
        twilio_from_number=env["CONNECTOR_TWILIO_FROM_NUMBER"],
    )
    with served(settings) as services:
        message = Message(key="21:2", customer_id="c1", address=PHONE, text="Корзина ждёт")
        started = time.time()
        sent = CHANNEL.send(services, message)
        an_sms(services, sent.provider_id)
        worker = Worker(services, threads=1)
        work_until(worker, lambda: status_of(services, sent.provider_id) == "delivered")
        found = CHANNEL.find_sent(services, message, started)
        assert found is not None and found.provider_id == sent.provider_id

        inbound = f"{services.settings.public_url}/webhooks/twilio/inbound"
        sandbox.control(
            "twilio", "POST", "/inbound", json={"from": PHONE, "body": "STOP", "url": inbound}
        )
        work_until(worker, lambda: opted_out(services, "sms", PHONE) == "STOP reply")
        with pytest.raises(Unsubscribed):
            CHANNEL.send(services, Message(key="21:3", customer_id="c1", address=PHONE, text="x"))
        log = sandbox.control("twilio", "GET", "/messages", params={"to": PHONE}).json()
        assert log["count"] == 1
        deliveries = sandbox.control("twilio", "GET", "/deliveries").json()
        assert [d["status"] for d in deliveries] == [200, 200, 200]


def test_the_emulators_rate_limit_reaches_the_queue_as_rate_limited(tmp_path, sandbox):
    sandbox.reset()
    env = sandbox.settings_env()
    sandbox.control("twilio", "PUT", "/config", json={"rate_per_second": 0.5, "burst": 1})
    limited = TwilioClient(
        env["CONNECTOR_TWILIO_URL"],
        env["CONNECTOR_TWILIO_ACCOUNT_SID"],
        env["CONNECTOR_TWILIO_AUTH_TOKEN"],
        from_number=env["CONNECTOR_TWILIO_FROM_NUMBER"],
        retry=RetryPolicy(attempts=1),
    )
    limited.send(PHONE, "one")
    with pytest.raises(RateLimited):
        limited.send(PHONE, "two")
    assert sandbox.control("twilio", "GET", "/messages").json()["count"] == 1
    sandbox.reset()
