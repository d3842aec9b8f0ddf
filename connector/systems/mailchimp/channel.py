"""Mailchimp as a cascade channel (connector/cascades/channels.py): a step posts a member event
(`POST /lists/{list}/members/{hash}/events`, `name` = the step's `template`, `properties` = its
variables) that a Customer Journey in Mailchimp starts on; the email itself (its content, its
sending) lives in that journey.

Mailchimp answers 204 with no id and sends no delivery status, so the send's `provider_id` is
ours, the step's key, which travels in the event's properties as `connector_key`; `find_sent`
reads the member's events for it. Only a subscribed member has an address here: an
unsubscribed, cleaned, pending or transactional one (or none) makes the step skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades.channels import Medium, Message, Sent
from connector.errors import ConfigError, PermanentError

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.mailchimp.client import MailchimpClient

NAME = "mailchimp"
KEY_PROPERTY = "connector_key"
EVENT_NAME = (2, 30)  # Mailchimp's bounds on an event name's length


class MailchimpChannel:
    """Starts a Mailchimp journey for a cascade step (see the module docstring)."""

    name = NAME
    title = "Mailchimp (journey event)"
    medium: Medium = "email"
    lookup = True

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        email = str(customer.get("email") or "").strip().lower()
        if "@" not in email:
            return None
        member = _client(services).get_member(_audience(services), email)
        if member is None or member.get("status") != "subscribed":
            return None
        return email

    def send(self, services: Services, message: Message) -> Sent:
        name = (message.template or "").strip()
        if not EVENT_NAME[0] <= len(name) <= EVENT_NAME[1]:
            raise PermanentError(
                f"a Mailchimp step names its event in `template` (2-30 characters), got {name!r}",
                code="event_name",
            )
        properties = {str(key): _text(value) for key, value in message.variables.items()}
        properties[KEY_PROPERTY] = message.key
        _client(services).add_member_event(_audience(services), message.address, name, properties)
        return Sent(message.key, "sent")

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        events = _client(services).member_events(_audience(services), message.address)
        for event in events:
            properties = found if isinstance(found := event.get("properties"), dict) else {}
            if properties.get(KEY_PROPERTY) == message.key:
                return Sent(message.key, "sent")
        return None


def _client(services: Services) -> MailchimpClient:
    found: MailchimpClient = services.client(NAME)
    return found


def _audience(services: Services) -> str:
    list_id = services.settings.mailchimp_list_id
    if not list_id:
        raise ConfigError("CONNECTOR_MAILCHIMP_LIST_ID is required for the Mailchimp channel")
    return str(list_id)


def _text(value: Any) -> str:
    """Mailchimp takes only text properties."""
    return "" if value is None else str(value)


CHANNEL = MailchimpChannel()
