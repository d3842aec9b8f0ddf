"""The bot's webhook route, `POST /webhooks/telegram` (its declaration's `blueprint`).

Telegram signs nothing: `setWebhook(secret_token=...)` makes it send the secret in the
`X-Telegram-Bot-Api-Secret-Token` header, compared here in constant time (401 otherwise). An
update is stored by its `update_id`; `/start <token>` messages and `my_chat_member` changes get
a `telegram.update` task (ordered per chat), other updates are recorded only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

import webhooks
from connector import keys
from connector.inbound import TaskSpec, content_key
from connector.safe_input import MAX_ID, BadBody, load_json
from connector.systems.telegram.settings import TelegramSettings

SOURCE = "telegram"
HEADER = "X-Telegram-Bot-Api-Secret-Token"

blueprint = webhooks.intake_blueprint(SOURCE, __name__)


@blueprint.post("/telegram")
def telegram() -> tuple[Response, int]:
    secret = webhooks.services().settings.of(TelegramSettings).webhook_secret
    if not webhooks.same(webhooks.headers().get(HEADER), secret):
        return webhooks.refuse(401, SOURCE, "unauthorized", f"bad {HEADER}")
    body = webhooks.body()
    try:
        update = load_json(body)
        topic, task = read_update(update)
    except BadBody as error:
        return webhooks.refuse(400, SOURCE, "bad_request", str(error))
    return webhooks.store(SOURCE, content_key(SOURCE, update["update_id"]), topic, body, task)


def _chat_id(holder: Mapping[str, Any], where: str) -> str:
    chat = holder.get("chat")
    chat_id = chat.get("id") if isinstance(chat, Mapping) else None
    if isinstance(chat_id, bool) or not isinstance(chat_id, int) or abs(chat_id) > MAX_ID:
        raise BadBody(f"{where}.chat.id: missing or not a number")
    return str(chat_id)


def read_update(update: Any) -> tuple[str, TaskSpec | None]:
    """The update's type and the task it asks for; BadBody naming the field otherwise."""
    if not isinstance(update, Mapping):
        raise BadBody("body: not a JSON object")
    update_id = update.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int) or abs(update_id) > MAX_ID:
        raise BadBody("update_id: missing or not a number")
    topic = next((key for key in update if key != "update_id"), "unknown")
    message = update.get("message")
    if isinstance(message, Mapping):
        text = message.get("text")
        if isinstance(text, str) and (text == "/start" or text.startswith("/start ")):
            chat_id = _chat_id(message, "message")
            token = text.removeprefix("/start").strip()
            payload = {"update_id": update_id, "kind": "start", "chat_id": chat_id, "token": token}
            return topic, TaskSpec(
                "telegram.update", payload, ordering_key=keys.record("chat", SOURCE, chat_id)
            )
        return topic, None
    member = update.get("my_chat_member")
    if isinstance(member, Mapping):
        chat_id = _chat_id(member, "my_chat_member")
        new = member.get("new_chat_member")
        status = new.get("status") if isinstance(new, Mapping) else None
        if not isinstance(status, str):
            raise BadBody("my_chat_member.new_chat_member.status: missing")
        payload = {"update_id": update_id, "kind": "member", "chat_id": chat_id, "status": status}
        return topic, TaskSpec(
            "telegram.update", payload, ordering_key=keys.record("chat", SOURCE, chat_id)
        )
    return topic, None
