"""WhatsApp Cloud API emulator: template messages, signed status and message webhooks."""

from connector_sandbox.whatsapp.app import create_app

__all__ = ["create_app"]
