"""Mailchimp Transactional (Mandrill) emulator: sends with per-recipient results, search,
webhooks of message events signed as Mandrill signs them."""

from connector_sandbox.mandrill.app import create_app

__all__ = ["create_app"]
