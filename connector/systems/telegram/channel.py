"""Telegram as a cascade channel (connector/cascades/channels.py): medium "messenger".

`address` is `telegram:<chat id>` of the chat the customer bound with a start link (None while
unbound: the step is skipped with "no address"); the same string is the opt-out address when the
customer blocks the bot, so the engine's `opted_out("messenger", address)` finds it. `send`
sends the step's text with `sendMessage`; a 403 "blocked by the user" (or a deleted account)
records the opt-out and is a PermanentError. Telegram has no delivery receipts for bots: an
`ok` answer means the message is in the chat, recorded as "delivered". No lookup: the Bot API
cannot list what a bot sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades.channels import Medium, Message, Sent
from connector.cascades.outcomes import opt_out
from connector.errors import PermanentError
from connector.systems.telegram.binding import bound_chat, chat_address, chat_of, start_link
from connector.systems.telegram.client import TelegramClient, blocked
from connector.systems.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from connector.services import Services

NAME = "telegram"


class TelegramChannel:
    name = NAME
    title = "Telegram"
    medium: Medium = "messenger"
    lookup = False
    VARIABLES = ("telegram_link",)  # what `variables` fills (mappings/cascades.yaml checks it)

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        customer_id = customer.get("id") or customer.get("customer_id")
        if not customer_id:
            return None
        chat = bound_chat(services, str(customer_id))
        return chat_address(chat) if chat else None

    def send(self, services: Services, message: Message) -> Sent:
        if not message.text:
            raise PermanentError("a Telegram step needs a text", code="no_text")
        client: TelegramClient = services.client(NAME)
        chat = chat_of(message.address)
        parse_mode = services.settings.of(TelegramSettings).parse_mode
        try:
            sent = client.send_message(chat, message.text, parse_mode)
        except PermanentError as error:
            reason = blocked(error)
            if reason is not None:
                with services.engine.begin() as connection:
                    opt_out(
                        connection,
                        self.medium,
                        chat_address(chat),
                        NAME,
                        reason,
                        services.queue.clock(),
                    )
            raise
        return Sent(provider_id=f"{chat}:{sent.get('message_id')}", status="delivered")

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        return None

    def variables(self, services: Services, customer: Mapping[str, Any]) -> dict[str, str]:
        """`telegram_link`: a fresh start link binding this customer's chat (for any step's
        text, an email or an SMS, to offer the messenger). It writes the token in a
        transaction of its own: call it outside one."""
        customer_id = customer.get("id") or customer.get("customer_id")
        if not customer_id:
            return {}
        return {"telegram_link": start_link(services, str(customer_id))}


CHANNEL = TelegramChannel()
