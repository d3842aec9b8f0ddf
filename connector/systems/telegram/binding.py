"""Binding a customer's Telegram chat: one-time start links and what pressing Start does.

A bot may not write first (Telegram answers 403 "bot can't initiate conversation"), so the
customer opens `https://t.me/<bot>?start=<token>` from any message of ours (an email, an SMS,
the shop's or the CRM's page) and presses Start; the bot receives `/start <token>`, and the
token (one-time, expiring, a row of `telegram_tokens`) names the customer. The binding is a
link: entity "customer", system "telegram", external id the chat id.

    start_link(services, customer_id) -> "https://t.me/<bot>?start=<token>"

is what other code calls to offer the binding (the channel's `variables` gives it to every
step as `telegram_link`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, update

from connector.identity import link_of, save_link
from connector.store.tables import telegram_tokens
from connector.systems.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from connector.services import Services

SYSTEM = "telegram"
ENTITY = "customer"
TOKEN_BYTES = 24  # 32 characters of [A-Za-z0-9_-]: Telegram takes at most 64


def chat_address(chat_id: str | int) -> str:
    """The channel's address of a chat: also the opt-out address in the medium "messenger",
    prefixed so that a chat id never meets a WhatsApp phone number there."""
    return f"{SYSTEM}:{chat_id}"


def chat_of(address: str) -> str:
    """The chat id of an address (`telegram:<chat id>` or the bare id)."""
    return address.removeprefix(f"{SYSTEM}:")


def new_token(connection: Connection, customer_id: str, now: float, days: float) -> str:
    """A fresh one-time token naming `customer_id`, valid for `days`."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    connection.execute(
        telegram_tokens.insert().values(
            token=token, customer_id=customer_id, created_at=now, expires_at=now + days * 86400
        )
    )
    return token


def start_link(services: Services, customer_id: str, days: float | None = None) -> str:
    """A start link that binds the chat of whoever opens it to `customer_id` (one-time), valid
    for `days` (CONNECTOR_TELEGRAM_LINK_DAYS when None)."""
    days = services.settings.of(TelegramSettings).link_days if days is None else days
    with services.engine.begin() as connection:
        token = new_token(connection, customer_id, services.queue.clock(), days)
    return link_of_token(services, token)


def link_of_token(services: Services, token: str) -> str:
    return f"https://t.me/{services.client(SYSTEM).username()}?start={token}"


@dataclass(frozen=True)
class Bound:
    """What pressing Start did: the customer bound (None when the token is unknown, used by
    another chat or expired) and whether this update is a repeat of an earlier binding."""

    customer_id: str | None
    again: bool = False


def bind(connection: Connection, token: str, chat_id: str, now: float) -> Bound:
    """Spends `token` on `chat_id` and saves the customer's link to the chat. The same chat
    pressing the same link again (a re-delivered update, a second tap) is no error."""
    row = connection.execute(
        select(telegram_tokens).where(telegram_tokens.c.token == token).with_for_update()
    ).first()
    if row is None:
        return Bound(None)
    if row.used_at is not None:
        if row.chat_id == chat_id:
            return Bound(row.customer_id, again=True)
        return Bound(None)
    if row.expires_at <= now:
        return Bound(None)
    connection.execute(
        update(telegram_tokens)
        .where(telegram_tokens.c.token == token)
        .values(used_at=now, chat_id=chat_id)
    )
    save_link(connection, ENTITY, row.customer_id, SYSTEM, chat_id, data={"bound_at": now})
    return Bound(row.customer_id)


def bound_chat(services: Services, customer_id: str) -> str | None:
    """The chat id the customer bound, or None."""
    link = link_of(services.engine, ENTITY, customer_id, SYSTEM)
    return link.external_id if link is not None else None
