"""Overview: each system's health, the queue by kind and state, the last hour, dead letters and
refused webhooks (all read by `connector.observe`, shared with the alerts); refreshes itself."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from connector import observe
from connector.admin.auth import require
from connector.services import Services

bp = Blueprint("overview", __name__, url_prefix="/overview")
NAV = ("nav.overview", "index", "viewer")
REFRESH_SECONDS = 15


@bp.get("/")
@require("viewer")
def index() -> str:
    found: Services = current_app.extensions["connector"]
    seen = observe.overview(found)
    return render_template(
        "admin/overview/index.html",
        refresh=REFRESH_SECONDS,
        seen=seen,
        now=seen.at,
        configured=[s for s in seen.systems if s.configured],
        unconfigured=[s for s in seen.systems if not s.configured],
    )
