"""WhatsApp Cloud API as a cascade channel: approved templates to customers' phones.

`system` declares it to the registry; `client` speaks the Graph API (`POST /{version}/
{phone-number-id}/messages`); `channel` is the cascade `Channel` (medium "messenger"); `routes`
answers Meta's webhook handshake (GET, `hub.verify_token`) and takes its signed POSTs
(`X-Hub-Signature-256`); `flows` records delivery statuses and STOP/START replies from the
queue; `setup` checks the token and the number. Emulator: `connector_sandbox.whatsapp`; facts
and sources: `specs/whatsapp/README.md`.
"""
