"""Telegram as a cascade channel: the Bot API client's typed answers, binding a chat with a
one-time start link, a block as an opt-out, the bot's webhook door, and one story through the
emulator (Start pressed, message sent once, the bot blocked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses
from sqlalchemy import select

from connector.app import create_app
from connector.cascades import outcomes
from connector.cascades.channels import Message
from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import NO_RETRY
from connector.identity import link_of, save_link
from connector.services import Services
from connector.store.tables import telegram_tokens
from connector.systems.telegram.binding import bind, start_link
from connector.systems.telegram.channel import CHANNEL
from connector.systems.telegram.client import TelegramClient
from connector.systems.telegram.setup import setup_telegram
from connector.worker import Worker
from tests.channels.sends import (
    contract_of,
    emulator_settings,
    opened,
    opted_out,
    rows_in,
    run_tasks,
    served,
    work_until,
)
from tests.support import make_settings

TOKEN = "4242:test-bot-token"
SECRET = "telegram-webhook-secret"
URL = "https://tg.test"
API = f"{URL}/bot{TOKEN}"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def services(tmp_path: Path):
    with opened(
        make_settings(
            tmp_path,
            telegram_url=URL,
            telegram_bot_token=TOKEN,
            telegram_bot_username="shop_bot",
            telegram_webhook_secret=SECRET,
        )
    ) as built:
        built.client("telegram").retry = NO_RETRY
        yield built


def refused(code: int, description: str, **parameters: int) -> dict:
    body: dict = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def sent_message(chat: int, message_id: int = 42) -> dict:
    return {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat}, "date": 1}}


def a_message(address: str = "telegram:5551", text: str | None = "Корзина ждёт") -> Message:
    return Message(key="7:3", customer_id="c1", address=address, text=text)


def update(services: Services, body: dict, secret: str | None = SECRET):
    client = create_app(services).test_client()
    headers = {HEADER: secret} if secret is not None else {}
    return client.post("/webhooks/telegram", data=json.dumps(body), headers=headers)


def start(chat: int, text: str, update_id: int = 1) -> dict:
    person = {"id": chat, "is_bot": False, "first_name": "Olena"}
    chat_body = {"id": chat, "type": "private", "first_name": "Olena"}
    message = {"message_id": 1, "from": person, "chat": chat_body, "date": 1, "text": text}
    return {"update_id": update_id, "message": message}


def member(chat: int, status: str, update_id: int = 2) -> dict:
    bot = {"id": 4242, "is_bot": True, "first_name": "Shop"}
    change = {
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Olena"},
        "date": 1,
        "old_chat_member": {"user": bot, "status": "member" if status == "kicked" else "kicked"},
        "new_chat_member": {"user": bot, "status": status},
    }
    return {"update_id": update_id, "my_chat_member": change}


# -- the client and the channel ---------------------------------------------------------------


def test_the_channel_is_found_by_name_and_keeps_the_contract(services):
    assert contract_of(services, "telegram") == ("telegram", "messenger", False)


def test_the_address_is_the_bound_chat_and_none_before_the_customer_binds_it(services):
    assert CHANNEL.address(services, {"id": "c1", "phone": "+77011234567"}) is None
    save_link(services.engine, "customer", "c1", "telegram", "5551")
    assert CHANNEL.address(services, {"id": "c1"}) == "telegram:5551"


@responses.activate
def test_a_step_goes_by_send_message_to_the_chat_and_is_in_it_at_once(services):
    responses.post(f"{API}/sendMessage", json=sent_message(5551, 42))
    sent = CHANNEL.send(services, a_message())
    assert (sent.provider_id, sent.status) == ("5551:42", "delivered")
    body = json.loads(responses.calls[0].request.body)
    assert body == {"chat_id": "5551", "text": "Корзина ждёт"}


@responses.activate
def test_a_customer_who_blocked_the_bot_is_opted_out_and_the_step_fails_for_good(services):
    responses.post(
        f"{API}/sendMessage",
        json=refused(403, "Forbidden: bot was blocked by the user"),
        status=403,
    )
    with pytest.raises(PermanentError) as raised:
        CHANNEL.send(services, a_message())
    assert raised.value.code == "403"
    assert opted_out(services, "messenger", "telegram:5551") == "blocked the bot"


@responses.activate
def test_a_chat_that_never_started_the_bot_is_refused_but_not_opted_out(services):
    text = "Forbidden: bot can't initiate conversation with a user"
    responses.post(f"{API}/sendMessage", json=refused(403, text), status=403)
    with pytest.raises(PermanentError):
        CHANNEL.send(services, a_message())
    assert opted_out(services, "messenger", "telegram:5551") is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, refused(429, "Too Many Requests: retry after 7", retry_after=7), RateLimited),
        (401, refused(401, "Unauthorized"), AuthError),
        (400, refused(400, "Bad Request: chat not found"), PermanentError),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, TransientError),
    ],
)
@responses.activate
def test_each_bot_api_refusal_is_the_error_the_queue_acts_on(services, status, body, error):
    responses.post(f"{API}/sendMessage", json=body, status=status)
    with pytest.raises(error) as raised:
        CHANNEL.send(services, a_message())
    if error is RateLimited:
        assert raised.value.wait == 7
    assert TOKEN not in str(raised.value)


@responses.activate
def test_a_send_lost_on_the_way_back_is_not_sent_again():
    responses.post(f"{API}/sendMessage", body=requests.exceptions.ReadTimeout("no answer"))
    client = TelegramClient(URL, TOKEN)
    with pytest.raises(TransientError):
        client.send_message(5551, "hi")
    assert len(responses.calls) == 1


@responses.activate
def test_setup_registers_the_webhook_with_its_secret_for_messages_and_blocks(services):
    responses.post(f"{API}/setWebhook", json={"ok": True, "result": True})
    settings = services.settings.replace(public_url="https://connector.example")
    lines = setup_telegram(services.client("telegram"), settings)
    body = json.loads(responses.calls[0].request.body)
    assert body == {
        "url": "https://connector.example/webhooks/telegram",
        "secret_token": SECRET,
        "allowed_updates": ["message", "my_chat_member"],
    }
    assert lines[0] == "access: ok (bot @shop_bot)" and SECRET not in "\n".join(lines)


# -- binding ----------------------------------------------------------------------------------


def test_a_start_link_offers_a_fresh_one_time_token_to_any_step(services):
    first = CHANNEL.variables(services, {"id": "c1"})["telegram_link"]
    second = start_link(services, "c1")
    assert first.startswith("https://t.me/shop_bot?start=") and first != second
    token = first.rsplit("=", 1)[1]
    assert 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()


def test_a_token_binds_one_chat_once_and_never_after_it_expired(services):
    now = services.queue.clock()
    link = start_link(services, "c1")
    token = link.rsplit("=", 1)[1]
    with services.engine.begin() as connection:
        assert bind(connection, token, "5551", now).customer_id == "c1"
        assert bind(connection, token, "5551", now).again  # the same chat again: no error
        assert bind(connection, token, "6661", now).customer_id is None  # someone else's
    assert link_of(services.engine, "customer", "c1", "telegram").external_id == "5551"
    expired = start_link(services, "c2").rsplit("=", 1)[1]
    with services.engine.begin() as connection:
        late = now + 8 * 86400  # CONNECTOR_TELEGRAM_LINK_DAYS is 7
        assert bind(connection, expired, "7771", late).customer_id is None
        used = connection.scalar(
            select(telegram_tokens.c.used_at).where(telegram_tokens.c.token == expired)
        )
    assert used is None and link_of(services.engine, "customer", "c2", "telegram") is None


@responses.activate
def test_pressing_start_binds_the_chat_lifts_its_block_and_the_bot_confirms(services):
    responses.post(f"{API}/sendMessage", json=sent_message(5551))
    token = start_link(services, "c1").rsplit("=", 1)[1]
    with services.engine.begin() as connection:
        outcomes.opt_out(connection, "messenger", "telegram:5551", "telegram", "blocked", 1.0)
    assert update(services, start(5551, f"/start {token}")).status_code == 200
    run_tasks(services)
    assert CHANNEL.address(services, {"id": "c1"}) == "telegram:5551"
    assert opted_out(services, "messenger", "telegram:5551") is None
    answer = json.loads(responses.calls[0].request.body)
    assert answer["chat_id"] == "5551" and answer["text"].startswith("Done")


@responses.activate
def test_a_used_or_unknown_token_binds_nothing_and_the_bot_says_so(services):
    responses.post(f"{API}/sendMessage", json=sent_message(6661))
    assert update(services, start(6661, "/start not-a-token")).status_code == 200
    run_tasks(services)
    assert json.loads(responses.calls[0].request.body)["text"].startswith("This link has expired")


def test_blocking_the_bot_is_an_opt_out_and_unblocking_it_an_opt_in(services):
    assert update(services, member(5551, "kicked", 10)).status_code == 200
    run_tasks(services)
    assert opted_out(services, "messenger", "telegram:5551") == "blocked the bot"
    assert update(services, member(5551, "member", 11)).status_code == 200
    run_tasks(services)
    assert opted_out(services, "messenger", "telegram:5551") is None


# -- the webhook door -------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_an_update_without_the_secret_header_is_refused_and_nothing_stored(services, secret):
    answer = update(services, member(5551, "kicked"), secret=secret)
    assert answer.status_code == 401
    assert rows_in(services) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": {"text": "/start x"}}, "update_id"),
        ({"update_id": 3, "message": {"text": "/start x", "chat": {}}}, "message.chat.id"),
        ({"update_id": 4, "my_chat_member": {"chat": {"id": 1}}}, "new_chat_member.status"),
        (start(10**30, "/start x"), "message.chat.id"),
        ([1, 2], "body"),
    ],
)
def test_an_update_we_cannot_read_is_a_400_naming_the_field(services, body, field):
    answer = update(services, body)
    assert answer.status_code == 400 and field in answer.get_json()["message"]
    assert rows_in(services) == 0


def test_the_same_update_twice_is_stored_once_and_other_updates_only_recorded(services):
    assert update(services, member(5551, "kicked", 20)).get_json()["status"] == "accepted"
    assert update(services, member(5551, "kicked", 20)).get_json()["status"] == "duplicate"
    plain = start(5551, "hello", 21)
    assert update(services, plain).get_json()["status"] == "ignored"


# -- through the emulator ---------------------------------------------------------------------


def test_a_customer_binds_through_the_start_link_gets_one_message_then_blocks_the_bot(
    tmp_path, sandbox
):
    sandbox.reset()
    with served(emulator_settings(tmp_path, sandbox, "telegram")) as services:
        setup_telegram(services.client("telegram"), services.settings)
        worker = Worker(services, threads=1)
        token = CHANNEL.variables(services, {"id": "c1"})["telegram_link"].rsplit("=", 1)[1]
        chat = sandbox.control("telegram", "POST", "/start", json={"token": token}).json()[
            "chat_id"
        ]
        work_until(worker, lambda: CHANNEL.address(services, {"id": "c1"}) is not None)
        address = CHANNEL.address(services, {"id": "c1"})
        assert address == f"telegram:{chat}"
        sent = CHANNEL.send(services, a_message(address, "Корзина ждёт, Olena"))
        log = sandbox.control("telegram", "GET", "/messages", params={"chat_id": chat}).json()
        assert log["count"] == 2  # the bot's confirmation, then the step: once
        assert log["messages"][1]["text"] == "Корзина ждёт, Olena"
        assert sent.provider_id == f"{chat}:{log['messages'][1]['message_id']}"

        sandbox.control("telegram", "POST", "/block", json={"chat_id": chat})
        work_until(worker, lambda: opted_out(services, "messenger", address))
        with pytest.raises(PermanentError):
            CHANNEL.send(services, a_message(address, "again"))
        log = sandbox.control("telegram", "GET", "/messages", params={"chat_id": chat}).json()
        assert log["count"] == 2
        deliveries = sandbox.control("telegram", "GET", "/deliveries").json()
        assert {d["status"] for d in deliveries} == {200}


def test_past_its_rate_the_emulator_says_429_with_retry_after_and_sends_nothing(sandbox):
    sandbox.reset()  # the rate goes back to 30 a second
    env = sandbox.settings_env()
    client = TelegramClient(
        env["CONNECTOR_TELEGRAM_URL"], env["CONNECTOR_TELEGRAM_BOT_TOKEN"], retry=NO_RETRY
    )
    chat = sandbox.control("telegram", "POST", "/start", json={}).json()["chat_id"]
    sandbox.control("telegram", "POST", "/limits", json={"rate_per_second": 3})
    with pytest.raises(RateLimited) as raised:
        for number in range(5):
            client.send_message(chat, f"message {number}")
    assert raised.value.wait >= 1
    log = sandbox.control("telegram", "GET", "/messages", params={"chat_id": chat}).json()
    assert log["count"] == 3
