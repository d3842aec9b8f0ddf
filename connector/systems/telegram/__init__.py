"""Telegram as a cascade channel: a bot writes to customers who bound their chat.

`system` declares it to the registry; `client` speaks the Bot API (`sendMessage`, `setWebhook`,
`getMe`); `channel` is the cascade `Channel` (medium "messenger"); `binding` makes the one-time
start links (`https://t.me/<bot>?start=<token>`) and binds a chat when the customer presses
Start; `routes` takes the bot's updates (verified by `X-Telegram-Bot-Api-Secret-Token`);
`flows` handles them from the queue (`/start <token>` binds, `my_chat_member` kicked/member is
an opt-out/opt-in); `setup` registers the webhook. Emulator: `connector_sandbox.telegram`; facts
and sources: `specs/telegram/README.md`.
"""
