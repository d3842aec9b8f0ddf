"""Open Loyalty (3.2, open-source edition) emulator: customers, points transfers, transactions."""

from connector_sandbox.openloyalty.app import create_app

__all__ = ["create_app"]
