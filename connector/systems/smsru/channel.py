"""SMS.ru as a cascade channel (connector/cascades/channels.py): medium "sms", the customer's
phone in E.164, one `sms/send` per message.

SMS.ru takes no client reference and cannot list what it sent to a number, so `lookup` is off:
an attempt whose answer was lost is recorded `unknown` by the engine and never repeated. A
number SMS.ru keeps on a stop list (codes 209, 215) is recorded as an opt-out of "sms" for every
scenario, and the step fails with that code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades import outcomes
from connector.cascades.channels import Medium, Message, Sent
from connector.errors import PermanentError
from connector.systems.smsru.client import StopListed

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.smsru.client import SmsruClient

log = logging.getLogger("connector.systems.smsru")

NAME = "smsru"
# what SMS.ru's send answer and status callbacks say, canonical (connector.cascades.channels)
STATUSES: dict[int, str] = {
    100: "queued",  # accepted, queued
    101: "queued",  # being passed to the operator
    102: "sent",  # sent, on its way
    103: "delivered",
    104: "undelivered",  # not delivered: its lifetime ran out
    105: "undelivered",  # deleted by the operator
    106: "undelivered",  # the phone failed
    107: "undelivered",  # not delivered, reason unknown
    108: "failed",  # rejected
    110: "read",  # read (messages sent through Viber)
    150: "failed",  # no route to the number
}


def canonical_status(code: int) -> str | None:
    """The canonical status of an SMS.ru status code, None for one that is no delivery news."""
    return STATUSES.get(code)


def phone_address(services: Services, customer: Mapping[str, Any]) -> str | None:
    """The customer's phone in E.164 (read in the mappings' `phone_region` when written
    without `+`), or None when there is none or it is no phone number."""
    from connector.loyalty.lookup import phone_normaliser
    from connector.mapping.phones import PhoneError

    phone = customer.get("phone")
    if not isinstance(phone, str) or not phone.strip():
        return None
    try:
        return phone_normaliser(services.settings.mappings_dir or "mappings")(phone.strip())
    except PhoneError:
        return None


class SmsruChannel:
    name = NAME
    title = "SMS.ru"
    medium: Medium = "sms"
    lookup = False

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        return phone_address(services, customer)

    def send(self, services: Services, message: Message) -> Sent:
        if not message.text:
            raise PermanentError("an SMS needs a text", code="no_text")
        client: SmsruClient = services.client(NAME)
        try:
            sent = client.send(message.address, message.text)
        except StopListed as error:
            with services.engine.begin() as connection:
                outcomes.opt_out(
                    connection,
                    "sms",
                    message.address,
                    NAME,
                    f"sms.ru stop list [{error.code}]",
                    services.queue.clock(),
                )
            raise
        log.info("sms.ru sent %s for %s", sent.sms_id, message.key)
        return Sent(sent.sms_id, canonical_status(sent.status_code) or "sent")

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        return None  # SMS.ru cannot tell what it sent to a number (lookup is off)


CHANNEL = SmsruChannel()
