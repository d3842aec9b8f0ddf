"""`telegram.update` tasks, queued by the webhook route: a chat bound or blocked.

- `start`: `/start <token>` spends the one-time token and links the chat to its customer
  (connector/systems/telegram/binding.py), lifts an earlier block of that chat, and answers with
  a short confirmation (or says the link is no good). The answer is sent after the binding is
  committed; a retried task binds nothing twice (the same chat re-using its token is no error).
- `member`: the bot's own membership in a private chat changed: "kicked" (the user blocked the
  bot) is an opt-out of the medium "messenger" for that chat, "member" (unblocked, Start
  again) an opt-in.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.cascades.outcomes import opt_in, opt_out
from connector.errors import PermanentError
from connector.flows.hub import skip
from connector.identity import find_link
from connector.systems.telegram import crm
from connector.systems.telegram.binding import bind, chat_address
from connector.systems.telegram.client import TelegramClient
from connector.systems.telegram.settings import TelegramSettings
from connector.tasks import TaskContext

log = logging.getLogger("connector.telegram")

NAME = "telegram"
MEDIUM = "messenger"


def update(ctx: TaskContext, payload: dict[str, Any]) -> None:
    services = ctx.services
    chat_id = str(payload["chat_id"])
    now = services.queue.clock()
    if payload.get("kind") == "member":
        status = str(payload.get("status"))
        with services.engine.begin() as connection:
            if status == "kicked":
                opt_out(connection, MEDIUM, chat_address(chat_id), NAME, "blocked the bot", now)
            elif status == "member":
                opt_in(connection, MEDIUM, chat_address(chat_id))
        log.info("telegram chat %s: bot %s", chat_id, status)
        return
    settings = services.settings.of(TelegramSettings)
    token = str(payload.get("token") or "")
    customer_id = None
    if token:
        with services.engine.begin() as connection:
            bound = bind(connection, token, chat_id, now)
            customer_id = bound.customer_id
            if customer_id is not None:
                opt_in(connection, MEDIUM, chat_address(chat_id))
                if not bound.again:
                    crm.enqueue(services, customer_id, connection)  # the CRM link is spent
    elif find_link(services.engine, "customer", NAME, chat_id) is not None:
        customer_id = "already bound"  # a plain /start in a bound chat
    if customer_id is None:
        skip("telegram start", "no valid start token", chat=chat_id)
    client: TelegramClient = services.client(NAME)
    try:
        client.send_message(chat_id, settings.bound_text if customer_id else settings.expired_text)
    except PermanentError as error:  # blocked again already: the binding stands, no answer
        skip("telegram start", f"answer refused: {error}", chat=chat_id)
