"""Bitrix24 sandbox: a local portal answering the REST API with the real wire format and limits.

Start it with ``create_app(Bitrix24Config(...))`` and serve the Flask app; see
docs/sandbox-bitrix24.md.
"""

from .app import create_app
from .config import Bitrix24Config

__all__ = ["Bitrix24Config", "create_app"]
