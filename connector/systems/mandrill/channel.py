"""Mailchimp Transactional (Mandrill) as a cascade channel (connector/cascades/channels.py):
one email per step, with Mandrill's message id and its delivery statuses coming back through
the webhook (`routes.py`, `flows.py`).

A step with a `template` is sent with `messages/send-template` (the template lives in Mandrill,
the step's variables are its global merge vars); one without, with `messages/send` (the step's
`subject` and `text`). The step's key travels in the message's `metadata` as `connector_key`,
which is how `find_sent` recognises a message an unanswered attempt may have sent
(`messages/search` by the address and the date, then the key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.cascades import outcomes
from connector.cascades.channels import Medium, Message, Sent
from connector.errors import PermanentError
from connector.systems.mandrill.settings import MandrillSettings

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.mandrill.client import MandrillClient

NAME = "mandrill"
# Mandrill's per-recipient send status -> the canonical one
SEND_STATUSES = {"sent": "sent", "queued": "queued", "scheduled": "queued"}
# a message's `state` in messages/search -> the canonical status
SEARCH_STATES = {
    "sent": "delivered",
    "deferred": "queued",
    "queued": "queued",
    "scheduled": "queued",
    "soft-bounced": "undelivered",
    "bounced": "failed",
    "rejected": "failed",
    "spam": "delivered",
    "unsub": "delivered",
}
# reject reasons that mean the person does not want our email: an opt-out, not just a failure
OPT_OUT_REJECTS = {"unsub": "mandrill unsubscribe", "spam": "mandrill spam complaint"}


class MandrillChannel:
    """Sends a cascade step's email through Mandrill (see the module docstring)."""

    name = NAME
    title = "Mailchimp Transactional (Mandrill)"
    medium: Medium = "email"
    lookup = True

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None:
        email = str(customer.get("email") or "").strip().lower()
        return email if "@" in email else None

    def send(self, services: Services, message: Message) -> Sent:
        client: MandrillClient = services.client(NAME)
        results = client.send(_message(services, message), template=message.template)
        result = next(
            (r for r in results if str(r.get("email", "")).lower() == message.address.lower()),
            results[0] if results else None,
        )
        if result is None:
            raise PermanentError("Mandrill answered no recipient", code="no_recipient")
        status, provider_id = str(result.get("status") or ""), str(result.get("_id") or "")
        if status in SEND_STATUSES and provider_id:
            return Sent(provider_id, SEND_STATUSES[status])
        reason = str(result.get("reject_reason") or status or "unknown")
        if reason in OPT_OUT_REJECTS:
            with services.engine.begin() as connection:
                outcomes.opt_out(
                    connection,
                    "email",
                    message.address.lower(),
                    NAME,
                    OPT_OUT_REJECTS[reason],
                    services.queue.clock(),
                )
        raise PermanentError(f"Mandrill {status}: {reason}", code=f"{status}:{reason}")

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None:
        client: MandrillClient = services.client(NAME)
        found = client.search(
            f"email:{message.address}",
            date_from=_day(since - 86_400),  # Mandrill's days are UTC; a day early is safe
            date_to=_day(services.queue.clock() + 86_400),
        )
        for item in found:
            metadata = meta if isinstance(meta := item.get("metadata"), dict) else {}
            if metadata.get("connector_key") == message.key and item.get("_id"):
                status = SEARCH_STATES.get(str(item.get("state") or ""), "sent")
                return Sent(str(item["_id"]), status)
        return None


def _message(services: Services, message: Message) -> dict[str, Any]:
    """The `message` object of a send: one recipient, our key in the metadata."""
    settings = services.settings.of(MandrillSettings)
    body: dict[str, Any] = {
        "to": [{"email": message.address, "type": "to"}],
        "metadata": {"connector_key": message.key, "customer_id": message.customer_id},
        "tags": ["cascade", "marketing" if message.marketing else "service"],
        "preserve_recipients": False,
    }
    if message.variables:
        body["global_merge_vars"] = [
            {"name": str(name), "content": _text(value)}
            for name, value in message.variables.items()
        ]
    if message.subject:
        body["subject"] = message.subject
    if message.text:
        body["text"] = message.text
    if settings.from_email:
        body["from_email"] = settings.from_email
    if settings.from_name:
        body["from_name"] = settings.from_name
    if not message.template and not (message.subject and message.text):
        raise PermanentError(
            "a Mandrill step needs a `template`, or a `subject` and a `text`", code="no_content"
        )
    return body


def _text(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _day(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d")


CHANNEL = MandrillChannel()
