"""WhatsApp Cloud API as a cascade channel (connector/cascades/channels.py): medium "messenger".

`address` is the customer's phone as WhatsApp's `to` wants it: E.164 digits without "+"
(None without a phone); it is also the opt-out address of a STOP reply. `send` sends the
step's `template` (business-initiated messages must be approved templates; `variables` are its
body parameters, named or "1", "2", ...) in the step's language or CONNECTOR_WHATSAPP_LANGUAGE;
a step with only a text goes as a session message, which Meta refuses (131047) outside 24 h of
the customer's last message. Meta answers "accepted": the send is recorded "queued", and the
statuses sent/delivered/read/failed come back through the webhook. 131050 (the user stopped
marketing messages) records the opt-out. No lookup: the API cannot list sent messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades.channels import Medium, Message, Sent
from connector.cascades.outcomes import opt_out
from connector.errors import PermanentError
from connector.systems.whatsapp.client import OPTED_OUT, WhatsAppClient, message_id
from connector.systems.whatsapp.settings import WhatsAppSettings

if TYPE_CHECKING:
    from connector.services import Services

NAME = "whatsapp"
_NOT_DIGIT = re.compile(r"\D")


def wa_number(phone: Any) -> str | None:
    """E.164 digits without "+" (WhatsApp's `to` and `wa_id`), or None for no usable phone."""
    digits = _NOT_DIGIT.sub("", str(phone or ""))
    return digits if 8 <= len(digits) <= 15 else None


class WhatsAppChannel:
    name = NAME
    title = "WhatsApp"
    medium: Medium = "messenger"
    lookup = False

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        return wa_number(customer.get("phone"))

    def send(self, services: Services, message: Message) -> Sent:
        client: WhatsAppClient = services.client(NAME)
        to = wa_number(message.address)
        if to is None:
            raise PermanentError("no WhatsApp number in the address", code="no_address")
        try:
            if message.template:
                language = message.language or services.settings.of(WhatsAppSettings).language
                answer = client.send_template(to, message.template, language, message.variables)
            elif message.text:
                answer = client.send_text(to, message.text)
            else:
                raise PermanentError("a WhatsApp step needs a template", code="no_template")
        except PermanentError as error:
            if error.code == str(OPTED_OUT):
                with services.engine.begin() as connection:
                    opt_out(
                        connection,
                        self.medium,
                        to,
                        NAME,
                        "stopped marketing messages",
                        services.queue.clock(),
                    )
            raise
        return Sent(provider_id=message_id(answer), status="queued")

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        return None


CHANNEL = WhatsAppChannel()
