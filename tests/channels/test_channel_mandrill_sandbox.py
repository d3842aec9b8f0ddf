"""Mandrill against its emulator: a cascade email goes out once through the channel, the
emulator's signed webhook reaches the connector's route and the statuses land on the send; a
recipient who unsubscribes is opted out and refused by Mandrill from then on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from connector.cascades.channels import Message, channel
from connector.errors import PermanentError, RateLimited
from connector.services import Services
from connector.store.tables import cascade_sends
from connector.systems.mandrill.settings import MandrillSettings
from tests.channels.sends import (
    a_send,
    emulator_settings,
    opted_out,
    run_tasks,
    served,
    status_by_key,
)

EMAIL = "olena@example.com"


@pytest.fixture
def connector(fresh_sandbox: Any, tmp_path: Path) -> Iterator[tuple[Services, str]]:
    """The connector set up for the Mandrill emulator, served on a loopback port, with the
    emulator's webhook pointing at it (what `connector setup mandrill` does)."""
    with served(emulator_settings(tmp_path, fresh_sandbox, "mandrill")) as services:
        url = services.settings.public_url
        hook, created = services.client("mandrill").ensure_webhook(f"{url}/webhooks/mandrill")
        assert created and hook["auth_key"] == services.settings.of(MandrillSettings).webhook_key
        yield services, url


def reserve(services: Services, key: str) -> None:
    """The row of a step being sent, before Mandrill has answered."""
    a_send(
        services,
        None,
        channel="mandrill",
        medium="email",
        address=EMAIL,
        key=key,
        customer_id="c-1",
        marketing=1,
        state="sending",
        status=None,
        at=1.0,
    )


def recorded(services: Services, key: str, provider_id: str, status: str) -> None:
    """Mandrill's answer recorded on the step's row: sent, with its id and status."""
    with services.engine.begin() as connection:
        connection.execute(
            update(cascade_sends)
            .where(cascade_sends.c.idem_key == key)
            .values(state="sent", provider_id=provider_id, status=status)
        )


def settle(sandbox: Any, services: Services) -> None:
    """The emulator's webhooks delivered, then every task they made run."""
    assert sandbox.control("mandrill", "POST", "/deliveries/wait?timeout=10").status_code == 200
    run_tasks(services)


def test_an_email_sent_once_comes_back_delivered_then_read_and_an_unsubscribe_stops_email(
    fresh_sandbox, connector
):
    services, _ = connector
    mandrill = channel(services, "mandrill")
    step = Message(
        key="1:1",
        customer_id="c-1",
        address=EMAIL,
        template="abandoned-cart",
        variables={"FIRST_NAME": "Olena"},
    )
    reserve(services, step.key)
    sent = mandrill.send(services, step)
    recorded(services, step.key, sent.provider_id, sent.status)
    settle(fresh_sandbox, services)
    assert status_by_key(services, step.key) == "delivered"  # the `send` event, signed and verified

    # an attempt whose answer was lost asks Mandrill instead of sending again
    assert mandrill.find_sent(services, step, since=0.0) is not None
    assert mandrill.find_sent(services, step, since=0.0).provider_id == sent.provider_id
    counted = fresh_sandbox.control("mandrill", "GET", f"/sent?key={step.key}").json()
    assert counted["counts"] == {EMAIL: 1}

    path = f"/messages/{sent.provider_id}/events"
    fresh_sandbox.control("mandrill", "POST", path, json={"event": "open"})
    settle(fresh_sandbox, services)
    assert status_by_key(services, step.key) == "read"

    fresh_sandbox.control("mandrill", "POST", path, json={"event": "unsub"})
    settle(fresh_sandbox, services)
    assert opted_out(services, "email", EMAIL) == "mandrill unsubscribe"
    with pytest.raises(PermanentError) as refused:  # Mandrill's reject list refuses her now
        mandrill.send(services, Message(key="2:1", customer_id="c-1", address=EMAIL, template="x"))
    assert refused.value.code == "rejected:unsub"
    settle(fresh_sandbox, services)  # the `reject` event of that refusal, too
    deliveries = fresh_sandbox.control("mandrill", "GET", "/deliveries").json()
    assert deliveries and all(d["status"] == 200 for d in deliveries)


def test_the_emulator_allows_twenty_searches_a_minute_then_says_to_wait(fresh_sandbox):
    from connector.http import RetryPolicy
    from connector.systems.mandrill.client import MandrillClient

    env = fresh_sandbox.settings_env()
    client = MandrillClient(
        env["CONNECTOR_MANDRILL_URL"],
        env["CONNECTOR_MANDRILL_API_KEY"],
        retry=RetryPolicy(max_wait=0.0),
    )
    for _ in range(20):
        assert client.search(f"email:{EMAIL}") == []
    with pytest.raises(RateLimited) as error:
        client.search(f"email:{EMAIL}")
    assert 0 < error.value.wait <= 60
