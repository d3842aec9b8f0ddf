"""SMS.ru as a cascade channel: the client's typed answers, the channel's address and send, the
signed status callbacks, and one send through the emulator whose callbacks come back."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode

import pytest
import responses

from connector.app import create_app
from connector.cascades.channels import Message
from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import RetryPolicy
from connector.services import Services
from connector.store.tables import inbound_events, tasks
from connector.systems.smsru.channel import CHANNEL, canonical_status
from connector.systems.smsru.client import SmsruClient, StopListed
from connector.systems.smsru.setup import setup_smsru
from connector.systems.smsru.webhooks import callback_hash
from connector.worker import Worker
from tests.channels.sends import (
    a_send,
    contract_of,
    emptied,
    module_store,
    opted_out,
    post_form,
    rows_in,
    run_tasks,
    served,
    status_of,
    work_until,
)
from tests.support import make_settings

API_ID = "TEST-API-ID-0001"
SECRET = "smsru-callback-secret"
URL = "https://sms.test"
PHONE = "+79251234567"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """The module's one store; `services` empties it for each test."""
    yield from module_store(
        tmp_path_factory,
        smsru_url=URL,
        smsru_api_id=API_ID,
        smsru_webhook_secret=SECRET,
        smsru_sender="Shop",
    )


@pytest.fixture
def services(shared: Services) -> Services:
    return emptied(shared)


def client() -> SmsruClient:
    return SmsruClient(URL, API_ID, sender="Shop", retry=RetryPolicy(sleep=lambda _: None))


def answered(code: int, number: str = "79251234567", **extra: object) -> dict:
    one = {"status": "OK", "status_code": 100, "sms_id": "000000-10000001"}
    if code != 100:
        one = {"status": "ERROR", "status_code": code, "status_text": "refused"}
    return {"status": "OK", "status_code": 100, "sms": {number: one}, "balance": 10.5, **extra}


def an_sms(services: Services, provider_id: str, **columns: object) -> None:
    """An SMS of run 1, step 1 to PHONE, sent through SMS.ru and still queued."""
    a_send(services, provider_id, channel="smsru", medium="sms", address=PHONE, **columns)


# -- the client -------------------------------------------------------------------------------


@responses.activate
def test_a_send_posts_the_form_sms_ru_documents_and_reads_the_numbers_sms_id():
    responses.post(f"{URL}/sms/send", json=answered(100))
    sent = client().send(PHONE, "Ваша корзина ждёт")
    assert sent.sms_id == "000000-10000001" and sent.status_code == 100 and sent.balance == 10.5
    form = parse_qs(responses.calls[0].request.body)
    assert form == {
        "to": ["79251234567"],
        "msg": ["Ваша корзина ждёт"],
        "from": ["Shop"],
        "api_id": [API_ID],
        "json": ["1"],
    }


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ({"status": "ERROR", "status_code": 200, "status_text": "bad api_id"}, AuthError, None),
        ({"status": "ERROR", "status_code": 201, "status_text": "no money"}, PermanentError, "201"),
        (answered(202), PermanentError, "202"),
        (answered(207), PermanentError, "207"),
        (answered(209), StopListed, "209"),
        (answered(230), RateLimited, None),
        ({"status": "ERROR", "status_code": 220, "status_text": "down"}, TransientError, None),
    ],
)
@responses.activate
def test_each_sms_ru_refusal_is_the_error_the_queue_acts_on(answer, error, code):
    responses.post(f"{URL}/sms/send", json=answer)
    with pytest.raises(error) as raised:
        SmsruClient(URL, API_ID, retry=RetryPolicy(attempts=1)).send(PHONE, "hi")
    assert getattr(raised.value, "code", None) == code
    if error is RateLimited:
        assert raised.value.wait == 3600.0


@responses.activate
def test_a_send_that_failed_at_the_server_is_not_sent_again_but_left_to_the_queue():
    responses.post(f"{URL}/sms/send", status=503)
    with pytest.raises(TransientError):
        client().send(PHONE, "hi")
    assert len(responses.calls) == 1


@responses.activate
def test_sms_ru_saying_it_is_down_is_sent_again_within_the_call_for_it_sent_nothing():
    responses.post(f"{URL}/sms/send", json={"status": "ERROR", "status_code": 220})
    responses.post(f"{URL}/sms/send", json=answered(100))
    assert client().send(PHONE, "hi").sms_id == "000000-10000001"
    assert len(responses.calls) == 2


@responses.activate
def test_setup_reads_the_balance_and_registers_the_callback_url_once(services):
    responses.post(f"{URL}/my/balance", json={"status": "OK", "status_code": 100, "balance": 42})
    held: list[str] = []
    responses.post(
        f"{URL}/callback/get",
        json={"status": "OK", "status_code": 100, "callback": held},
    )
    responses.post(f"{URL}/callback/add", json={"status": "OK", "status_code": 100})
    lines = setup_smsru(client(), services.settings)
    added = [c for c in responses.calls if c.request.url.endswith("/callback/add")]
    assert len(added) == 1
    expected = f"{services.settings.public_url}/webhooks/smsru/{SECRET}"
    assert parse_qs(added[0].request.body)["url"] == [expected]
    assert lines[0] == "access: ok (balance 42.00 RUB)" and SECRET not in "".join(lines)


# -- the channel ------------------------------------------------------------------------------


def test_the_channel_is_found_by_name_and_keeps_the_contract(services):
    assert contract_of(services, "smsru") == ("smsru", "sms", False)


@pytest.mark.parametrize(
    ("customer", "address"),
    [
        ({"phone": "8 (925) 123-45-67"}, PHONE),
        ({"phone": "+7 925 123 45 67"}, PHONE),
        ({"phone": "not a phone"}, None),
        ({"email": "a@b.c"}, None),
    ],
)
def test_the_address_is_the_customers_phone_in_e164_or_none(services, customer, address):
    assert CHANNEL.address(services, customer) == address


@responses.activate
def test_a_stop_listed_number_becomes_an_sms_opt_out_for_every_scenario(services):
    responses.post(f"{URL}/sms/send", json=answered(209))
    message = Message(key="7:2", customer_id="c1", address=PHONE, text="Скидка 10%")
    with pytest.raises(StopListed):
        CHANNEL.send(services, message)
    assert opted_out(services, "sms", PHONE) == "sms.ru stop list [209]"


@pytest.mark.parametrize(
    ("code", "status"),
    [(100, "queued"), (102, "sent"), (103, "delivered"), (104, "undelivered"), (150, "failed")],
)
def test_sms_ru_status_codes_map_to_the_canonical_statuses(code, status):
    assert canonical_status(code) == status


# -- the status callback route ----------------------------------------------------------------


def callback_body(entries: list[str], api_id: str | None = API_ID) -> str:
    form = {f"data[{i}]": entry for i, entry in enumerate(entries)}
    if api_id is not None:
        form["hash"] = callback_hash(api_id, entries)
    return urlencode(form)


def post_callback(app_client, body: str, secret: str = SECRET):
    return post_form(app_client, f"/webhooks/smsru/{secret}", body)


def test_a_signed_callback_is_stored_answered_100_and_its_statuses_recorded(services):
    an_sms(services, "000000-10000001")
    an_sms(services, "000000-10000002")
    entries = [
        f"sms_status\n000000-10000001\n103\n{int(time.time())}",
        f"sms_status\n000000-10000002\n104\n{int(time.time())}",
    ]
    response = post_callback(create_app(services).test_client(), callback_body(entries))
    assert response.status_code == 200 and response.get_data(as_text=True) == "100"
    run_tasks(services)
    assert status_of(services, "000000-10000001") == "delivered"
    assert status_of(services, "000000-10000002") == "undelivered"


@pytest.mark.parametrize(
    ("secret", "body", "status", "names"),
    [
        ("wrong", callback_body(["sms_status\n1\n103"]), 401, "secret"),
        (SECRET, callback_body(["sms_status\n1\n103"], api_id="someone-else"), 401, "hash"),
        (SECRET, "hash=abc", 400, "data[]"),
        (SECRET, callback_body(["sms_status\n\nxx"]), 400, "data[0]"),
    ],
    ids=["unknown secret", "hash of another api_id", "no data entries", "entry without id"],
)
def test_a_callback_not_ours_or_unreadable_is_refused_and_nothing_stored(
    services, secret, body, status, names
):
    response = post_callback(create_app(services).test_client(), body, secret)
    assert response.status_code == status
    assert names in response.get_json()["message"]
    assert rows_in(services, inbound_events) == 0 and rows_in(services, tasks) == 0


def test_a_status_of_a_message_we_never_sent_changes_nothing(services):
    an_sms(services, "000000-10000001")
    body = callback_body(["sms_status\n999999-1\n103\n1700000000"])
    assert post_callback(create_app(services).test_client(), body).status_code == 200
    run_tasks(services)
    assert status_of(services, "000000-10000001") == "queued"


@responses.activate
def test_the_poll_asks_only_about_open_sends_old_enough_and_records_what_changed(services):
    now = services.queue.clock()
    an_sms(services, "old-open", sent_at=now - 1200)
    an_sms(services, "old-delivered", sent_at=now - 1200, status="delivered")
    an_sms(services, "just-sent", sent_at=now - 60)
    responses.post(
        f"{URL}/sms/status",
        json={"status": "OK", "status_code": 100, "sms": {"old-open": {"status_code": 106}}},
    )
    services.queue.enqueue("smsru.poll", {})
    run_tasks(services)
    assert [parse_qs(c.request.body)["sms_id"] for c in responses.calls] == [["old-open"]]
    assert status_of(services, "old-open") == "undelivered"
    assert status_of(services, "just-sent") == "queued"


# -- through the emulator ---------------------------------------------------------------------


def test_a_step_sent_through_the_emulator_is_sent_once_and_its_delivery_comes_back(
    tmp_path, sandbox
):
    sandbox.reset()
    env = sandbox.settings_env()
    settings = make_settings(
        tmp_path,
        smsru_url=env["CONNECTOR_SMSRU_URL"],
        smsru_api_id=env["CONNECTOR_SMSRU_API_ID"],
        smsru_webhook_secret=env["CONNECTOR_SMSRU_WEBHOOK_SECRET"],
    )
    with served(settings) as services:
        setup_smsru(services.client("smsru"), services.settings)
        message = Message(key="11:1", customer_id="c1", address=PHONE, text="Корзина ждёт")
        sent = CHANNEL.send(services, message)
        an_sms(services, sent.provider_id)
        worker = Worker(services, threads=1)
        work_until(worker, lambda: status_of(services, sent.provider_id) == "delivered")
        log = sandbox.control("smsru", "GET", "/messages", params={"to": PHONE}).json()
        assert log["count"] == 1 and log["messages"][0]["history"] == [100, 102, 103]
        deliveries = sandbox.control("smsru", "GET", "/deliveries").json()
        assert [d["response_body"] for d in deliveries] == ["100", "100"]


def test_the_emulator_keeps_sms_rus_per_number_limits_and_stop_list(sandbox):
    sandbox.reset()
    env = sandbox.settings_env()
    emulated = SmsruClient(
        env["CONNECTOR_SMSRU_URL"], env["CONNECTOR_SMSRU_API_ID"], retry=RetryPolicy(attempts=1)
    )
    for _ in range(3):
        emulated.send(PHONE, "one text")
    with pytest.raises(RateLimited) as limited:  # 231: the same text, a fourth time this minute
        emulated.send(PHONE, "one text")
    assert limited.value.wait == 60.0
    with pytest.raises(PermanentError, match=r"\[207\]"):
        emulated.send("+70001234567", "no route")
    sandbox.control("smsru", "POST", "/stoplist", json={"phone": "+79990001122"})
    with pytest.raises(StopListed):
        emulated.send("+79990001122", "hi")
    assert sandbox.control("smsru", "GET", "/messages", params={"to": PHONE}).json()["count"] == 3
    sandbox.reset()
