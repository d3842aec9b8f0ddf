"""Mailchimp against its emulator: a cascade step posts one member event to a subscribed
member (the journey's start), found again by its key; an unsubscribed member has no address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.cascades.channels import Message, Sent, channel
from tests.channels.sends import emulator_settings, opened


def test_a_step_reaches_a_subscribed_member_as_one_event_and_skips_an_unsubscribed_one(
    fresh_sandbox: Any, tmp_path: Path
):
    with opened(emulator_settings(tmp_path, fresh_sandbox, "mailchimp")) as services:
        list_id = services.settings.mailchimp_list_id
        services.mailchimp.upsert_member(list_id, "olena@example.com", status_if_new="subscribed")
        services.mailchimp.upsert_member(list_id, "gone@example.com", status_if_new="unsubscribed")
        mailchimp = channel(services, "mailchimp")
        assert mailchimp.address(services, {"email": "gone@example.com"}) is None
        address = mailchimp.address(services, {"email": "Olena@example.com"})
        assert address == "olena@example.com"

        step = Message(
            key="5:1",
            customer_id="c-5",
            address=address,
            template="cart_left",
            variables={"cart_total": "1250"},
        )
        assert mailchimp.find_sent(services, step, since=0.0) is None
        assert mailchimp.send(services, step) == Sent("5:1", "sent")
        assert mailchimp.find_sent(services, step, since=0.0) == Sent("5:1", "sent")

        events = [
            event
            for key, found in fresh_sandbox.control("mailchimp", "GET", "/state")
            .json()["events"]
            .items()
            for event in found
            if key.startswith(f"{list_id}:")
        ]
        assert [(e["name"], e["properties"]) for e in events] == [
            ("cart_left", {"cart_total": "1250", "connector_key": "5:1"})
        ]
        assert events[0]["is_syncing"] is False
