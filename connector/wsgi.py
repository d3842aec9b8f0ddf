"""The web entry points: `connector.wsgi:app` for any WSGI server, and `connector.wsgi:rsgi_app`,
what `connector serve` runs under granian.

Each server process imports it and so builds its own services (engine, group-commit writer)
from the environment; `connector serve` passes its `--env-file` on as `CONNECTOR_ENV_FILE`.
`rsgi_app` is the same app behind `WholeRequestWSGI`: a request reaches a thread only once it
has arrived whole, within `CONNECTOR_HTTP_READ_TIMEOUT` (see connector/web_server.py).
"""

from __future__ import annotations

from connector.app import create_app
from connector.cli._common import build_services
from connector.web_server import WholeRequestWSGI

services = build_services()
_ = services.inbound  # the group-commit writer starts now, not on the first webhook
app = create_app(services)
rsgi_app = WholeRequestWSGI(
    app,
    threads=services.settings.http_threads,
    read_timeout=services.settings.http_read_timeout,
    max_body_bytes=services.settings.webhook_max_bytes,
    multiprocess=services.settings.http_workers > 1,
)
