"""The channel contract: what a cascade step asks of every message channel, and where it finds
them.

A channel is a system (connector/systems/<name>/) whose declaration names a `Channel` as
`channel=` (`"connector.systems.<name>.channel:CHANNEL"`), the way a carrier names its
`Carrier`. The cascade engine reads channels only through this contract and the registry, so a
new channel is one package: its client, its `channel.py`, its `system.py` (settings, webhook
routes for delivery statuses and replies) and its emulator in the sandbox.

    name        the system's name ("smsru", "twilio", "telegram", "whatsapp", "mandrill",
                "mailchimp"); what a step names as `channel:` in mappings/cascades.yaml
    title       what people read ("SMS.ru")
    medium      "email" | "sms" | "messenger": opt-outs and frequency caps count per medium
    lookup      whether `find_sent` can ask the provider for a message an unanswered attempt
                may have sent (when not, such a send is recorded `unknown` and never repeated)

    address(services, customer)   where this customer is reached on this channel (an E.164
                                  phone, an email, a Telegram chat id), or None: the step is
                                  skipped to the next one with the reason "no address"
    send(services, message)       sends one message; returns `Sent` with the provider's id.
                                  A refusal for good is a PermanentError (the step is recorded
                                  `failed` and the run goes on), a blip a TransientError or
                                  RateLimited (the step task is retried; the reserved send row
                                  keeps a retry from sending twice)
    find_sent(services, message, since)
                                  the message sent with `message.key` since `since`, if the
                                  provider can tell (`lookup`), else None

Delivery statuses, STOP replies and blocks come back through the channel's webhook routes (or a
poll) into `connector.cascades.outcomes`: `record_status`, `opt_out`.

Errors are those of connector/errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.registry import Registry

Medium = Literal["email", "sms", "messenger"]

# The canonical delivery statuses a channel maps its provider's to (`record_status`).
STATUSES = ("queued", "sent", "delivered", "read", "undelivered", "failed")


@dataclass(frozen=True)
class Message:
    """One step's message, rendered: what a channel sends."""

    key: str  # the idempotency key of the run's step ("<run id>:<step>"); providers that take
    # one (a client reference, a header) get it
    customer_id: str
    address: str  # what `Channel.address` returned
    text: str | None = None  # the rendered text (SMS, Telegram, WhatsApp session text)
    subject: str | None = None  # email
    template: str | None = None  # a provider template or event name (WhatsApp, Mandrill,
    # a Mailchimp member event)
    variables: Mapping[str, Any] = field(default_factory=dict)  # fields for the template
    marketing: bool = True  # marketing (consent needed) or a service message
    language: str | None = None  # a template language where the provider wants one


@dataclass(frozen=True)
class Sent:
    """What the provider answered: its message id and the status it gave, canonical."""

    provider_id: str
    status: str = "sent"


@runtime_checkable
class Channel(Protocol):
    """Sends a cascade step's message (see the module docstring)."""

    name: str
    title: str
    medium: Medium
    lookup: bool

    def address(self, services: Services, customer: Mapping[str, Any]) -> str | None: ...

    def send(self, services: Services, message: Message) -> Sent: ...

    def find_sent(self, services: Services, message: Message, since: float) -> Sent | None: ...


def channels_of(systems: Registry) -> Iterator[Channel]:
    """Every channel the registry declares, in its order."""
    from connector.systems.registry import resolve

    for system in systems:
        if system.channel is not None:
            yield resolve(system.channel)


def channel(services: Services, name: str) -> Channel:
    """The channel of system `name` (ConfigError when that system is no channel)."""
    from connector.systems.registry import resolve

    if name not in services.systems:
        raise ConfigError(f"{name} is no system the connector knows")
    system = services.systems.get(name)
    if system.channel is None:
        raise ConfigError(f"{name} is not a message channel (its system declares no `channel=`)")
    found: Channel = resolve(system.channel)
    return found
