"""Twilio as a cascade channel (connector/cascades/channels.py): medium "sms", the customer's
phone in E.164, one `Messages.json` POST per message with our StatusCallback URL.

Twilio takes no idempotency key, so `lookup` is on: `find_sent` lists the messages sent to the
number since the attempt began and matches the body. A recipient who replied STOP (Twilio's
21610) is recorded as an opt-out of "sms" for every scenario, and the step fails with that code.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades import outcomes
from connector.cascades.channels import Medium, Message, Sent
from connector.errors import PermanentError
from connector.systems.smsru.channel import phone_address
from connector.systems.twilio.client import Unsubscribed
from connector.systems.twilio.settings import TwilioSettings

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.services import Services
    from connector.systems.twilio.client import TwilioClient

log = logging.getLogger("connector.systems.twilio")

NAME = "twilio"
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
# Twilio's MessageStatus -> canonical (connector.cascades.channels.STATUSES)
STATUSES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def canonical_status(status: str) -> str | None:
    return STATUSES.get(status.lower())


def webhook_base(settings: Settings) -> str:
    """Where Twilio reaches the connector's webhooks (part of their signature)."""
    twilio = settings.of(TwilioSettings)
    return (twilio.webhook_base_url or settings.public_url).rstrip("/")


class TwilioChannel:
    name = NAME
    title = "Twilio SMS"
    medium: Medium = "sms"
    lookup = True

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        return phone_address(services, customer)

    def send(self, services: Services, message: Message) -> Sent:
        if not message.text:
            raise PermanentError("an SMS needs a text", code="no_text")
        client: TwilioClient = services.client(NAME)
        callback = webhook_base(services.settings) + STATUS_PATH
        try:
            answer = client.send(message.address, message.text, status_callback=callback)
        except Unsubscribed:
            with services.engine.begin() as connection:
                outcomes.opt_out(
                    connection,
                    "sms",
                    message.address,
                    NAME,
                    "twilio 21610 (STOP)",
                    services.queue.clock(),
                )
            raise
        log.info("twilio sent %s for %s", answer["sid"], message.key)
        return Sent(
            str(answer["sid"]), canonical_status(str(answer.get("status") or "")) or "queued"
        )

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        """The message an unanswered attempt sent: among the messages from our sender to the
        number since the attempt began, the one with the step's text; when the caller has no
        text to compare, the first one sent since then (the attempt reserved the step just
        before sending, so a message from us to that number after it is the attempt's)."""
        client: TwilioClient = services.client(NAME)
        # Twilio's DateSent has whole seconds: a second earlier, so an attempt's own is seen
        start = dt.datetime.fromtimestamp(since - 1, dt.UTC)
        ours = [
            found
            for found in client.messages_to(message.address, start)
            if found.get("direction", "outbound-api") == "outbound-api" and _from_us(client, found)
        ]
        if message.text is not None:
            ours = [found for found in ours if found.get("body") == message.text]
        if not ours:
            return None
        first = ours[-1]  # Twilio lists newest first
        return Sent(str(first["sid"]), canonical_status(str(first.get("status") or "")) or "sent")


def _from_us(client: TwilioClient, found: Mapping[str, Any]) -> bool:
    """Sent from the connector's sender (its number or its Messaging Service)."""
    if client.messaging_service_sid:
        return found.get("messaging_service_sid") == client.messaging_service_sid
    return found.get("from") in (None, client.from_number)


CHANNEL = TwilioChannel()
