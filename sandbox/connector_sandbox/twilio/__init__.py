"""Twilio Programmable Messaging emulator: Messages.json, signed status callbacks and replies."""

from connector_sandbox.twilio.app import create_app

__all__ = ["create_app"]
