"""Telegram Bot API emulator: sendMessage, webhooks with a secret token, users who start and
block the bot."""

from connector_sandbox.telegram.app import create_app

__all__ = ["create_app"]
