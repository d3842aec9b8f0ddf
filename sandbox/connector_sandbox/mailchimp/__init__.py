"""Mailchimp Marketing API v3 emulator (audiences, members, e-commerce, batches, audience
webhooks).
"""

from connector_sandbox.mailchimp.app import create_app

__all__ = ["create_app"]
