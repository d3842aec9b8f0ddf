"""Mailchimp as a cascade channel: a step posts a member event that a Customer Journey starts
on; only subscribed members have an address; the step's key rides in the event's properties
and `find_sent` finds it there. An unsubscribe or a cleaned address coming back by webhook opts
the address out of every cascade's email."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.app import create_app
from connector.cascades import outcomes
from connector.cascades.channels import Message, Sent, channel
from connector.errors import PermanentError
from connector.systems.mailchimp.client import subscriber_hash
from tests.channels.sends import contract_of, opened, opted_out, post_form, run_tasks
from tests.support import SPECS, make_settings

API = "https://us1.api.mailchimp.com/3.0"
LIST = "list1"
SECRET = "mc-webhook-path-secret"
EMAIL = "olena@example.com"
MEMBER = f"{API}/lists/{LIST}/members/{subscriber_hash(EMAIL)}"


@pytest.fixture
def services(tmp_path: Path):
    with opened(
        make_settings(
            tmp_path,
            mailchimp_api_key="0123-us1",
            mailchimp_list_id=LIST,
            mailchimp_webhook_secret=SECRET,
        )
    ) as built:
        yield built


def message(**changes: Any) -> Message:
    values: dict[str, Any] = {
        "key": "21:1",
        "customer_id": "c-7",
        "address": EMAIL,
        "template": "cart_left",
        "variables": {"cart_total": 1250, "first_name": "Olena"},
    }
    return Message(**(values | changes))


def test_mailchimp_is_a_channel_of_the_registry(services):
    assert contract_of(services, "mailchimp") == ("mailchimp", "email", True)


@responses.activate
@pytest.mark.parametrize(
    ("status", "address"),
    [("subscribed", EMAIL), ("unsubscribed", None), ("cleaned", None), ("transactional", None)],
)
def test_only_a_subscribed_member_has_an_address(services, status, address):
    responses.get(MEMBER, json={"email_address": EMAIL, "status": status})
    assert (
        channel(services, "mailchimp").address(services, {"email": "Olena@Example.com"}) == address
    )


@responses.activate
def test_someone_who_is_no_member_has_no_address(services):
    responses.get(MEMBER, status=404, json={"title": "Resource Not Found", "status": 404})
    assert channel(services, "mailchimp").address(services, {"email": EMAIL}) is None
    assert channel(services, "mailchimp").address(services, {"phone": "+77011234567"}) is None


@responses.activate
def test_a_step_posts_a_member_event_named_by_its_template_with_its_key_in_the_properties(
    services,
):
    responses.post(f"{MEMBER}/events", status=204)
    sent = channel(services, "mailchimp").send(services, message())
    assert sent == Sent("21:1", "sent")  # Mailchimp gives no id: ours is the step's key
    body = json.loads(responses.calls[0].request.body)
    assert body["name"] == "cart_left"
    assert body["properties"] == {
        "cart_total": "1250",
        "first_name": "Olena",
        "connector_key": "21:1",
    }
    assert body["is_syncing"] is False  # a syncing event would start no journey


@pytest.mark.parametrize("name", [None, "x", "a" * 31])
def test_a_step_without_a_valid_event_name_is_refused_before_calling(services, name):
    with pytest.raises(PermanentError, match="2-30"):
        channel(services, "mailchimp").send(services, message(template=name))


@responses.activate
def test_find_sent_reads_the_members_events_for_the_steps_key(services):
    events = [
        {"name": "cart_left", "properties": {"connector_key": "20:1"}},
        {"name": "cart_left", "properties": {"connector_key": "21:1"}},
    ]
    responses.get(f"{MEMBER}/events", json={"events": events, "total_items": 2})
    mailchimp = channel(services, "mailchimp")
    assert mailchimp.find_sent(services, message(), 0.0) == Sent("21:1", "sent")
    assert mailchimp.find_sent(services, message(key="22:1"), 0.0) is None
    assert "count=1000" in responses.calls[0].request.url


def unsubscribe_form(kind: str = "unsubscribe") -> bytes:
    form: bytes = (SPECS / "mailchimp" / "webhooks" / f"{kind}.form.txt").read_bytes()
    return form.strip()


@pytest.mark.parametrize("kind", ["unsubscribe", "cleaned"])
def test_an_unsubscribe_or_a_cleaned_address_opts_it_out_of_cascade_email(services, kind):
    app = create_app(services).test_client()
    answer = post_form(app, f"/webhooks/mailchimp/{SECRET}", unsubscribe_form(kind))
    assert answer.status_code == 200, answer.get_json()
    run_tasks(services)
    address = "api+unsub@mailchimp.com" if kind == "unsubscribe" else "api+cleaned@mailchimp.com"
    assert opted_out(services, "email", address) == f"mailchimp {kind}"


def test_a_new_subscribe_lifts_mailchimps_own_opt_out_but_not_another_channels(services):
    with services.engine.begin() as connection:
        outcomes.opt_out(
            connection, "email", "api@mailchimp.com", "mailchimp", "mailchimp unsubscribe", 1.0
        )
        outcomes.opt_out(
            connection, "email", "api+2@mailchimp.com", "mandrill", "mandrill spam complaint", 1.0
        )
    app = create_app(services).test_client()
    form = unsubscribe_form("subscribe")
    for address, member in (
        ("api%40mailchimp.com", "8a25ff1d98"),
        ("api%2B2%40mailchimp.com", "9b"),
    ):
        body = form.replace(b"api%40mailchimp.com", address.encode())
        body = body.replace(b"8a25ff1d98", member.encode())  # another member, another event
        answer = post_form(app, f"/webhooks/mailchimp/{SECRET}", body)
        assert answer.status_code == 200, answer.get_json()
    run_tasks(services)
    assert opted_out(services, "email", "api@mailchimp.com") is None
    assert opted_out(services, "email", "api+2@mailchimp.com") == "mandrill spam complaint"
