"""`connector setup twilio`: checks the credentials (one listing call) and prints the two URLs
to set at Twilio; re-runnable. The StatusCallback is sent with each message, so only the
number's "A message comes in" webhook is set by hand (Console -> Phone Numbers -> the number ->
Messaging, or the Messaging Service's Integration)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from connector.config import Settings
from connector.systems.twilio.channel import INBOUND_PATH, STATUS_PATH, webhook_base
from connector.systems.twilio.client import TwilioClient


def setup_twilio(client: TwilioClient, settings: Settings) -> list[str]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    next(iter(client.messages_to(client.from_number or "+10000000000", since, page_size=1)), None)
    base = webhook_base(settings)
    sender = client.messaging_service_sid or client.from_number
    return [
        f"access: ok (account {client.account_sid}, sending from {sender})",
        f"status callbacks: {base}{STATUS_PATH} (sent with every message)",
        f"set at Twilio, 'A message comes in' (HTTP POST): {base}{INBOUND_PATH}",
    ]


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    return setup_twilio(TwilioClient.from_settings(settings), settings)
