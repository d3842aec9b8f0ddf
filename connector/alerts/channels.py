"""Where alerts go: email (SMTP), a Telegram chat, a generic JSON webhook (Slack-compatible).

Each channel is set in the settings (`CONNECTOR_ALERTS_*`; its secrets from the environment)
and sends one message with a short time-out (`CONNECTOR_ALERTS_TIMEOUT`). A failure is an
`AlertSendError` naming the channel and what went wrong, never the secret: the message is kept
and sent again at the next evaluation.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import requests

from connector.config import Settings
from connector.errors import ConnectorError
from connector.logs import mask


class AlertSendError(ConnectorError):
    """A channel could not deliver a message (tried again at the next evaluation)."""


@dataclass(frozen=True)
class Message:
    """One alert: a one-line subject and a few lines of text (phones and emails masked)."""

    subject: str
    text: str

    def full_text(self) -> str:
        return f"{self.subject}\n\n{self.text}" if self.text else self.subject


class Channel(Protocol):
    """Sends one message, or raises AlertSendError."""

    @property
    def name(self) -> str: ...

    def send(self, message: Message) -> None: ...

    def describe(self) -> str:
        """Where it sends, with no secret (for `connector alerts status` and the console)."""
        ...


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    security: str  # starttls | ssl | none
    sender: str
    recipients: tuple[str, ...]
    user: str | None
    password: str | None
    timeout: float
    name: str = "email"

    def describe(self) -> str:
        return (
            f"email to {', '.join(self.recipients)} via {self.host}:{self.port} ({self.security})"
        )

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.text or message.subject)
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as error:
            raise AlertSendError(
                f"email via {self.host}:{self.port}: {_reason(error, self._secrets())}"
            ) from None

    def _secrets(self) -> list[str]:
        return [self.password] if self.password else []


@dataclass(frozen=True)
class TelegramChannel:
    base_url: str
    token: str
    chat_id: str
    timeout: float
    name: str = "telegram"

    def describe(self) -> str:
        return f"telegram chat {self.chat_id}"

    def send(self, message: Message) -> None:
        # Bot API sendMessage (core.telegram.org/bots/api#sendmessage): plain text, no markup,
        # so names that arrived from webhooks are never read as formatting. 4096 characters.
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/sendMessage"
        body = {
            "chat_id": self.chat_id,
            "text": message.full_text()[:4096],
            "disable_web_page_preview": True,
        }
        _post(url, body, self.timeout, "telegram", [self.token])


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    timeout: float
    name: str = "webhook"

    def describe(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"webhook {scheme}://{rest.split('/', 1)[0]}/..."  # the path may be the secret

    def send(self, message: Message) -> None:
        _post(self.url, {"text": message.full_text()}, self.timeout, "webhook", [self.url])


def _post(url: str, body: dict[str, object], timeout: float, name: str, secrets: list[str]) -> None:
    try:
        response = requests.post(url, json=body, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        raise AlertSendError(f"{name}: {_reason(error, secrets)}") from None
    if not 200 <= response.status_code < 300:
        detail = mask(response.text[:200], secrets).replace("\n", " ")
        raise AlertSendError(f"{name}: answered {response.status_code} {detail}".rstrip())


def _reason(error: BaseException, secrets: Sequence[str]) -> str:
    text = str(error) or type(error).__name__
    return mask(f"{type(error).__name__}: {text}", secrets)[:300]


def channels_from_settings(settings: Settings) -> list[Channel]:
    """Every channel the settings configure, in a fixed order (email, telegram, webhook)."""
    found: list[Channel] = []
    timeout = settings.alerts_timeout
    if settings.alerts_email_to and settings.alerts_smtp_host:
        recipients = tuple(a.strip() for a in settings.alerts_email_to.split(",") if a.strip())
        found.append(
            EmailChannel(
                host=settings.alerts_smtp_host,
                port=settings.alerts_smtp_port,
                security=settings.alerts_smtp_security,
                sender=settings.alerts_email_from,
                recipients=recipients,
                user=settings.alerts_smtp_user,
                password=settings.alerts_smtp_password,
                timeout=timeout,
            )
        )
    if settings.alerts_telegram_token and settings.alerts_telegram_chat_id:
        found.append(
            TelegramChannel(
                base_url=settings.alerts_telegram_url,
                token=settings.alerts_telegram_token,
                chat_id=settings.alerts_telegram_chat_id,
                timeout=timeout,
            )
        )
    if settings.alerts_webhook_url:
        found.append(WebhookChannel(url=settings.alerts_webhook_url, timeout=timeout))
    return found


def half_configured(settings: Settings) -> list[str]:
    """Channels set only in part (so never used): what the status should point out."""
    problems = []
    if bool(settings.alerts_email_to) != bool(settings.alerts_smtp_host):
        problems.append("email: set both CONNECTOR_ALERTS_EMAIL_TO and CONNECTOR_ALERTS_SMTP_HOST")
    if bool(settings.alerts_telegram_token) != bool(settings.alerts_telegram_chat_id):
        problems.append(
            "telegram: set both CONNECTOR_ALERTS_TELEGRAM_TOKEN and "
            "CONNECTOR_ALERTS_TELEGRAM_CHAT_ID"
        )
    return problems
