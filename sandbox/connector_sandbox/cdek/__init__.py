"""CDEK API v2 emulator: OAuth client credentials, order registration, statuses and webhooks."""

from connector_sandbox.cdek.app import create_app

__all__ = ["create_app"]
