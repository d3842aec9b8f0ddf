"""Telegram's settings (`CONNECTOR_TELEGRAM_*`), read through `settings.of(TelegramSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, positive, setting


@dataclass(frozen=True)
class TelegramSettings(SystemSettings):
    prefix: ClassVar[str] = "telegram"

    url: str = setting(
        "https://api.telegram.org", "Telegram Bot API base URL (a proxy or a local Bot API)."
    )
    bot_token: str | None = setting(
        None,
        "Token of the cascades' bot (from @BotFather, /newbot); the Telegram channel is on "
        "when set.",
        secret=True,
    )
    bot_username: str | None = setting(
        None,
        "The bot's username without @, for start links (t.me/<username>?start=...); asked of "
        "the Bot API (getMe) when unset.",
    )
    webhook_secret: str | None = setting(
        None,
        "Secret the bot's updates carry in X-Telegram-Bot-Api-Secret-Token (1-256 of "
        "A-Z a-z 0-9 _ -); `connector setup telegram` registers it with the webhook.",
        secret=True,
    )
    link_days: float = setting(
        7.0, "Days a start link (one-time token) binds a chat before it expires.", positive(float)
    )
    parse_mode: str | None = setting(
        None, "parse_mode of sent messages (HTML, MarkdownV2); plain text when unset."
    )
    bound_text: str = setting(
        "Done: our messages will come here. You can stop them any time by blocking the bot.",
        "The bot's answer when a customer's chat is bound.",
    )
    expired_text: str = setting(
        "This link has expired or was used already; please ask for a new one.",
        "The bot's answer to a start link that is unknown, used or expired.",
    )
    crm_field: str | None = setting(
        None,
        "Bitrix24 contact field (UF_CRM_TELEGRAM_LINK) the connector fills with each unbound "
        "customer's start link, for managers and CRM robots to send; emptied once the chat is "
        "bound. Off when unset; `connector setup telegram` creates the field.",
    )
    crm_link_days: float = setting(
        30.0,
        "Days a start link in the Bitrix24 field stays valid; the hourly job renews it a day "
        "before it expires.",
        positive(float),
    )
