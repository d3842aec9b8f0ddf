"""Kaspi.kz merchant API emulator: orders by creation window, their lines, status changes."""

from connector_sandbox.kaspi.app import create_app

__all__ = ["create_app"]
