"""Flask webhook endpoints: verify, validate, store and enqueue, then answer 2xx."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")
