"""The web app factory: webhook routes, health, metrics (and, from later issues, admin APIs)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector.config import Settings
from connector.services import Services
from connector.store import ping
from connector.systems.registry import resolve


def create_app(services: Services | None = None) -> Flask:
    """Builds the app around one `Services`; tests pass their own."""
    services = services or Services()
    app = Flask("connector")
    app.config["MAX_CONTENT_LENGTH"] = services.settings.webhook_max_bytes
    app.extensions["connector"] = services

    for system in services.systems:  # each system's own webhook routes (its `blueprint`)
        if system.blueprint is not None:
            blueprint = resolve(system.blueprint)
            app.register_blueprint(blueprint() if callable(blueprint) else blueprint)
    _register_optional_blueprints(app)
    _mount_admin(app, services)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return _health(services)

    @app.get("/metrics")
    def metrics() -> Response:
        token = services.settings.metrics_token
        if token and not _bearer_ok(token):
            return Response(
                "bearer token required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
        return Response(generate_latest(services.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.errorhandler(404)
    def not_found(_error: Any) -> tuple[Response, int]:
        return jsonify(error="not_found", message="no such endpoint"), 404

    @app.errorhandler(405)
    def not_allowed(_error: Any) -> tuple[Response, int]:
        return jsonify(error="method_not_allowed", message="method not allowed here"), 405

    @app.errorhandler(413)
    def too_large(_error: Any) -> tuple[Response, int]:
        limit = services.settings.webhook_max_bytes
        return jsonify(error="too_large", message=f"body over {limit} bytes"), 413

    @app.errorhandler(500)
    def internal(_error: Any) -> tuple[Response, int]:
        if request.path.startswith("/webhooks/"):  # the webhook figures show the failure too
            source = (request.path.split("/") + ["", "", "unknown"])[2]
            services.metrics.count(services.metrics.webhooks, source, "error")
        return jsonify(error="internal", message="internal error; nothing was acknowledged"), 500

    @app.after_request
    def count(response: Response) -> Response:
        """Every answer, an unhandled exception's 500 included (Flask runs this after the
        error handler), by route pattern: never the path, which can hold a URL secret."""
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        status = f"{response.status_code // 100}xx"
        services.metrics.count(services.metrics.http_responses, route, status)
        return response

    return app


# Every answer: no framing, no sniffing, and a content security policy that allows only the
# app's own scripts, styles and images (the admin console has no inline script or style).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _mount_admin(app: Flask, services: Services) -> None:
    """The console under /admin (connector/admin), security headers on every answer, and the
    proxy's X-Forwarded-* trusted when CONNECTOR_HTTP_PROXY_HOPS says how many there are."""
    from connector.admin import admin_blueprint

    app.register_blueprint(admin_blueprint(services))
    hops = services.settings.http_proxy_hops
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if request.blueprint and request.blueprint.startswith("admin"):
            response.headers["Cache-Control"] = "no-store"
        return response


def _bearer_ok(expected: str) -> bool:
    import hmac

    sent = request.headers.get("Authorization", "")
    return sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), expected.encode())


def _register_optional_blueprints(app: Flask) -> None:
    """Blueprints of later features (loyalty checkout API) when their modules are present."""
    import importlib

    for module_name in ("connector.loyalty.api",):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        app.register_blueprint(module.blueprint)


def _health(services: Services) -> tuple[Response, int]:
    """`ok`, or `degraded` (still 200: webhooks are taken) while the mapping files on disk are
    invalid; `unhealthy` (503) without the store."""
    if not ping(services.engine):
        return jsonify(status="unhealthy", store="unreachable"), 503
    stats = services.queue.stats()
    mappings = services.mappings
    mappings.reload_if_changed()  # a web-only process has no worker to follow the files
    state = mappings.health()
    body = {
        "status": "ok" if state["status"] == "ok" else "degraded",
        "store": "ok",
        "queue": {
            "queued": stats.queued,
            "running": stats.running,
            "oldest_queued_age_seconds": stats.oldest_queued_age,
        },
        "dead_letters": stats.dead,
        "mappings": {
            "status": state["status"],
            "problems": len(state["problems"]),
            "saved_at": state["saved_at"],
        },
    }
    return jsonify(body), 200


def serve(settings: Settings) -> None:
    """Runs the app under granian, a production server whose HTTP side is written in Rust: it
    costs about half the CPU per request of a pure-Python server, which is what the webhook
    intake spends most of its time on (see bench/webhook_intake.py).

    Slow clients cannot stop it (bench/slow_clients.py): HTTP/1.1 only, so that the header
    time-out also closes connections that send nothing; at most `http_connection_limit`
    connections per process; and the app runs behind `connector.wsgi:rsgi_app`, which reads
    each body on the event loop within `http_read_timeout` before a thread sees the request.
    """
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from connector.web_server import raise_open_files_limit

    raise_open_files_limit(settings.http_connection_limit)  # the server processes inherit it
    Granian(
        "connector.wsgi:rsgi_app",
        address=settings.http_host,
        port=settings.http_port,
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.http_read_timeout * 1000))
        ),
        workers=settings.http_workers,
        backlog=2048,
        backpressure=settings.http_connection_limit,
        log_level=LogLevels(settings.log_level),
        log_access=False,
        respawn_failed_workers=True,
    ).serve()
