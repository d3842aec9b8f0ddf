"""The WSGI entry point, `connector.wsgi:app`, for `connector serve` or any other WSGI server.

Each server process imports it and so builds its own services (engine, group-commit writer)
from the environment; `connector serve` passes its `--env-file` on as `CONNECTOR_ENV_FILE`.
"""

from __future__ import annotations

from connector.app import create_app
from connector.cli._common import build_services

services = build_services()
_ = services.inbound  # the group-commit writer starts now, not on the first webhook
app = create_app(services)
