"""Kaspi.kz marketplace orders: polled (Kaspi has no webhooks), accepted, cancelled both ways.

`client` speaks the merchant API, `streams` polls orders by creation window with a cursor,
`flows` turns a Kaspi order into the canonical order the shop flow ingests and writes the
CRM's cancellations back. Mappings: `mappings/kaspi/`; emulator: `connector_sandbox.kaspi`.
"""
