"""Twilio Programmable Messaging: an SMS channel of the cascades (connector/cascades/channels.py).

`client` speaks the REST API (`Messages.json`: send, list, fetch; Basic auth with the account SID
and auth token; error JSON `{code, message, more_info, status}` typed); `channel` is the cascade
`Channel` (medium "sms", E.164 phone, `find_sent` lists the messages sent to the number and
matches the body); `webhooks` verifies `X-Twilio-Signature`; `routes` takes the StatusCallback
POSTs and the number's incoming messages (`/webhooks/twilio/status`, `/webhooks/twilio/inbound`)
and `flows` records statuses and STOP/START replies. Facts and sources: specs/twilio/README.md;
emulator: `connector_sandbox.twilio`.
"""
