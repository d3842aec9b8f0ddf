"""WooCommerce REST API v3 emulator with signed webhooks and a shopper acting through the control
API.
"""

from connector_sandbox.woocommerce.app import create_app

__all__ = ["create_app"]
