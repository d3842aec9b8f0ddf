"""Fault injection for every emulator: errors, time-outs, dropped connections and latency,
repeatable by seed.

`FaultInjector` is WSGI middleware that wraps a Flask app (``FaultInjector(app)`` installs itself
as ``app.wsgi_app``, so the test client and a real server both go through it). It owns the control
route ``/_sandbox/faults``:

- ``PUT /_sandbox/faults`` JSON ``{"error_rate": 0.2, "statuses": [500, 502, 503], "timeout_rate":
  0, "drop_rate": 0, "latency_ms": 0, "seed": 1}`` (plus optional ``timeout_seconds``,
  ``path_prefix`` and ``limit``) replaces the setting and restarts the counters;
- ``GET`` answers the setting and the counters; ``DELETE`` switches every fault off.

Requests under ``/_sandbox/`` (the control API) are never faulted. One random draw per faultable
request decides its fate, so the same seed and the same sequence of requests give the same sequence
of faults.

A time-out sleeps ``timeout_seconds`` *before* handling the request normally: the client has given
up, yet the change may still happen, as with a real slow server. A drop closes the socket without
an answer (werkzeug's server exposes it as ``werkzeug.socket``); on other servers the answer is cut
short (``Content-Length`` promises more than is sent), which a client sees as a broken connection
too.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask

CONTROL_PREFIX = "/_sandbox/"
FAULTS_PATH = "/_sandbox/faults"
EXTENSION_KEY = "sandbox_faults"

ErrorBody = Callable[[int], tuple[str, bytes]]
StartResponse = Callable[..., Any]


@dataclass
class FaultSetting:
    """What share of requests fails, and how."""

    error_rate: float = 0.0
    statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None
    path_prefix: str = ""
    limit: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultSetting:
        known = set(cls.__dataclass_fields__)
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        setting = cls(**body)
        for name in ("error_rate", "timeout_rate", "drop_rate"):
            value = float(getattr(setting, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(setting, name, value)
        if setting.error_rate + setting.timeout_rate + setting.drop_rate > 1.0:
            raise ValueError("error_rate + timeout_rate + drop_rate must not exceed 1")
        if not setting.statuses or not all(isinstance(s, int) for s in setting.statuses):
            raise ValueError("statuses must be a non-empty list of HTTP status codes")
        return setting


def _default_error_body(status: int) -> tuple[str, bytes]:
    body = {"error": "sandbox fault", "status": status}
    return "application/json", json.dumps(body).encode()


class FaultInjector:
    """WSGI middleware that makes a share of requests fail as configured."""

    def __init__(self, app: Flask, error_body: ErrorBody | None = None) -> None:
        self.app = app
        self.inner = app.wsgi_app
        self.error_body = error_body or _default_error_body
        self._lock = threading.Lock()
        self.configure(FaultSetting())
        app.wsgi_app = self  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = self

    # -- configuration -------------------------------------------------------------------------

    def configure(self, setting: FaultSetting) -> None:
        with self._lock:
            self.setting = setting
            self._random = random.Random(setting.seed)
            self.counters: dict[str, Any] = {
                "requests": 0,
                "passed": 0,
                "errors": 0,
                "timeouts": 0,
                "drops": 0,
                "by_status": {},
            }

    def clear(self) -> None:
        self.configure(FaultSetting())

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {**asdict(self.setting), "counters": json.loads(json.dumps(self.counters))}

    # -- decision ------------------------------------------------------------------------------

    def decide(self, path: str) -> tuple[str, int | None]:
        """Draws the fate of one request: ("pass"|"error"|"timeout"|"drop", status)."""
        with self._lock:
            setting = self.setting
            if not path.startswith(setting.path_prefix or "/"):
                return "pass", None
            self.counters["requests"] += 1
            draw = self._random.random()
            injected = self.counters["errors"] + self.counters["timeouts"] + self.counters["drops"]
            exhausted = setting.limit is not None and injected >= setting.limit
            fate, status = "pass", None
            if draw < setting.error_rate:
                fate = "error"
                status = self._random.choice(setting.statuses)
            elif draw < setting.error_rate + setting.timeout_rate:
                fate = "timeout"
            elif draw < setting.error_rate + setting.timeout_rate + setting.drop_rate:
                fate = "drop"
            if exhausted:
                fate, status = "pass", None
            key = {"pass": "passed", "error": "errors", "timeout": "timeouts", "drop": "drops"}
            self.counters[key[fate]] += 1
            if status is not None:
                by_status = self.counters["by_status"]
                by_status[str(status)] = by_status.get(str(status), 0) + 1
            return fate, status

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH:
            return self._control(environ, start_response)
        if path.startswith(CONTROL_PREFIX):
            if path == "/_sandbox/reset" and environ.get("REQUEST_METHOD") == "POST":
                self.clear()
            return self.inner(environ, start_response)
        fate, status = self.decide(path)
        latency = self.setting.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        if fate == "error":
            assert status is not None
            content_type, body = self.error_body(status)
            start_response(
                f"{status} {_reason(status)}",
                [("Content-Type", content_type), ("Content-Length", str(len(body)))],
            )
            return [body]
        if fate == "timeout":
            time.sleep(self.setting.timeout_seconds)
        if fate == "drop":
            return self._drop(environ, start_response)
        return self.inner(environ, start_response)

    def _drop(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            # werkzeug treats the failed write that follows as a dropped connection, quietly
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", "1048576")]
        )
        return [b'{"trunc']

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        if method == "PUT":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                self.configure(FaultSetting.from_json(body))
                payload: dict[str, Any] = self.describe()
            except (ValueError, TypeError) as error:
                status, payload = "400 Bad Request", {"error": str(error)}
        elif method == "DELETE":
            self.clear()
            payload = self.describe()
        elif method == "GET":
            payload = self.describe()
        else:
            status, payload = "405 Method Not Allowed", {"error": "use GET, PUT or DELETE"}
        data = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def ensure_faults(app: Flask, error_body: ErrorBody | None = None) -> FaultInjector:
    """Returns the app's injector, installing one if the app has none yet."""
    existing = app.extensions.get(EXTENSION_KEY)
    if isinstance(existing, FaultInjector):
        return existing
    return FaultInjector(app, error_body)
