"""SMS.ru HTTP API emulator: send, status, balance, signed status callbacks."""

from connector_sandbox.smsru.app import create_app

__all__ = ["create_app"]
