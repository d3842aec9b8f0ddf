"""Kaspi.kz marketplace orders: polled (Kaspi has no webhooks), accepted, cancelled both ways.

`system` declares Kaspi to the registry (connector/systems/registry.py); `client` speaks the
merchant API; `polling` reads orders by overlapping creation windows with a cursor; `flows`
turns a Kaspi order into the canonical order the shop order flow ingests, accepts new orders
and writes the CRM's cancellations back; `jobs` polls every minute at the pace of
CONNECTOR_KASPI_POLL_MINUTES; `setup` checks the token. Mappings: `mappings/kaspi/`; emulator:
`connector_sandbox.kaspi`; facts and sources: `specs/kaspi/README.md`.
"""
