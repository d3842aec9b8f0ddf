"""Nova Poshta API 2.0 emulator: one JSON endpoint for waybills and tracking."""

from connector_sandbox.novaposhta.app import create_app

__all__ = ["create_app"]
