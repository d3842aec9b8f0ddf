"""A tiny HTTP receiver that records what the emulators send, for tests and for rehearsing
webhooks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict
from werkzeug.wrappers import Request, Response

from connector_sandbox.runner import ServedApp


@dataclass
class Received:
    """One request as it arrived: method, path, headers (any case) and the raw body bytes."""

    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.body.decode()


class WebhookSink:
    """Answers every request with ``status`` (200 unless a test changes it) and keeps it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status = 200
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._served = ServedApp(self._app, host, port)
        self.url = self._served.url

    def start(self) -> WebhookSink:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
        self.status = 200

    def posts(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and path in (None, r.path)]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.posts(path)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.posts(path)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        record = Received(
            request.method,
            request.path,
            CaseInsensitiveDict(dict(request.headers)),
            request.get_data(),
            dict(request.args),
        )
        with self._lock:
            self.received.append(record)
        return Response("ok", status=self.status)(environ, start_response)

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
