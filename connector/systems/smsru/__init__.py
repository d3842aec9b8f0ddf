"""SMS.ru: an SMS channel of the cascades (connector/cascades/channels.py).

`client` speaks the HTTP API (`sms/send`, `sms/status`, `my/balance`, `callback/add`); `channel`
is the cascade `Channel` (medium "sms", the customer's phone in E.164); `routes` takes SMS.ru's
status callbacks (`POST /webhooks/smsru/<secret>`, `data[]` lines `sms_status\\n<id>\\n<code>`)
and `flows` maps their codes to the canonical statuses; `setup` registers the callback URL.
SMS.ru has no inbound SMS on ordinary numbers: a STOP reaches the connector another way (see
docs/channels.md). Facts and sources: specs/smsru/README.md; emulator: `connector_sandbox.smsru`.
"""
