"""Fixtures of the alert tests: services on a temporary store with a clock the test moves, and
a local SMTP server that keeps what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connector.config import Settings
from connector.services import Services
from tests.support import free_port, make_settings

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope

START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    built = Services(settings)
    built.queue.clock = clock
    yield built
    built.close()


class Inbox:
    """Mails a local SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.mails.append(message_from_bytes(envelope.content or b"", policy=default))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(mail["Subject"]) for mail in self.mails]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server (plain, no TLS) on a free port: (its inbox, its port)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def alert_services(
    tmp_path: Path, clock: Clock, smtp_port: int | None = None, **overrides: object
) -> Services:
    """Services on the test's store with alert channels set: email to the local SMTP server
    (when a port is given) and whatever `overrides` add."""
    values: dict[str, object] = {"alerts_timeout": 1}
    if smtp_port is not None:
        values.update(
            alerts_email_to="ops@example.com, oncall@example.com",
            alerts_email_from="connector@example.com",
            alerts_smtp_host="127.0.0.1",
            alerts_smtp_port=smtp_port,
            alerts_smtp_security="none",
        )
    values.update(overrides)
    built = Services(make_settings(tmp_path, **values))
    built.queue.clock = clock
    return built
