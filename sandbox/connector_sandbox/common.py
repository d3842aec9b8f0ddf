"""Pieces every emulator shares: webhook delivery with a log, the base control routes, clocks and
forms.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote_plus

import requests
from flask import Blueprint, Flask, current_app, has_request_context, jsonify, request

DELIVERY_LOG_SIZE = 2000


class EmulatorState(Protocol):
    """What the base control routes need from an emulator's state."""

    def reset(self) -> None: ...

    def dump(self) -> dict[str, Any]: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - Mailchimp's own id scheme


def base_url(app: Flask | None = None) -> str:
    """The emulator's own root URL, without a trailing slash."""
    if has_request_context():
        return request.host_url.rstrip("/")
    target = app or current_app
    return str(target.config.get("SANDBOX_BASE_URL", "http://127.0.0.1")).rstrip("/")


class Outbox:
    """Sends webhooks as the real system does, one at a time in order, and remembers every attempt.

    ``send`` delivers now; ``post_later`` queues for a background thread (the way shops deliver
    asynchronously), and ``wait`` blocks until the queue is empty. Nothing is ever retried here:
    retry rules (or their absence) belong to each emulator's ``on_result``.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.log: list[dict[str, Any]] = []
        self.sequence = 0  # number of the latest record, so callers can ask "what since?"
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[dict[str, Any], Callable[[dict[str, Any]], None] | None]]
        self._queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only: never through a proxy from the env

    def send(
        self,
        url: str,
        body: bytes | None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
        kind: str = "",
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        record = self._record(url, body, headers, method, kind)
        self._deliver(record)
        if on_result:
            on_result(record)
        return record

    def post_later(
        self,
        url: str,
        body: bytes | None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
        kind: str = "",
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        record = self._record(url, body, headers, method, kind)
        self._queue.put((record, on_result))
        self._ensure_thread()
        return record

    def wait(self, timeout: float = 30.0) -> bool:
        """Blocks until every queued delivery was attempted; False on time-out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return False

    def reset(self) -> None:
        self.wait(timeout=10)
        with self._lock:
            self.log.clear()

    def history(self, since: int = 0) -> list[dict[str, Any]]:
        """Copies of the recorded attempts numbered above ``since``."""
        with self._lock:
            return [dict(r) for r in self.log if r["seq"] > since]

    def _record(
        self,
        url: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        method: str,
        kind: str,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": 0,
            "id": new_uuid(),
            "kind": kind,
            "url": url,
            "method": method,
            "headers": dict(headers or {}),
            "body": (body or b"").decode("utf-8", "replace"),
            "queued_at": utcnow().isoformat(),
            "status": None,
            "error": None,
            "response_body": None,
            "delivered": False,
        }
        with self._lock:
            self.sequence += 1
            record["seq"] = self.sequence
            self.log.append(record)
            del self.log[:-DELIVERY_LOG_SIZE]
        return record

    def _deliver(self, record: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            response = self._session.request(
                record["method"],
                record["url"],
                data=record["body"].encode() if record["method"] != "GET" else None,
                headers=record["headers"],
                timeout=self.timeout,
                allow_redirects=False,
            )
            record["status"] = response.status_code
            record["response_body"] = response.text[:2000]
        except requests.RequestException as error:
            record["error"] = f"{type(error).__name__}: {error}"
        record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        record["delivered"] = True

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="sandbox-outbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            record, on_result = self._queue.get()
            try:
                self._deliver(record)
                if on_result:
                    on_result(record)
            finally:
                self._queue.task_done()


def control_blueprint(state: EmulatorState, outbox: Outbox | None = None) -> Blueprint:
    """The control routes every emulator has: reset, state dump and the delivery log."""
    blueprint = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")

    @blueprint.post("/reset")
    def reset() -> Any:
        if outbox:
            outbox.reset()
        state.reset()
        return jsonify({"reset": True})

    @blueprint.get("/state")
    def dump() -> Any:
        return jsonify(state.dump())

    @blueprint.get("/deliveries")
    def deliveries() -> Any:
        if not outbox:
            return jsonify([])
        records = outbox.history()
        kind = request.args.get("kind")
        if kind:
            records = [r for r in records if r["kind"] == kind]
        return jsonify(records)

    @blueprint.post("/deliveries/wait")
    def wait() -> Any:
        done = outbox.wait(float(request.args.get("timeout", 30))) if outbox else True
        return jsonify({"idle": done}), (200 if done else 504)

    return blueprint


def parse_php_form(raw: str | bytes) -> dict[str, Any]:
    """Decodes PHP-style form keys (``a[b][0][c]=v``) into nested dicts and lists, as PHP does.

    A later nested key replaces an earlier scalar at the same place (PHP ``parse_str`` semantics).
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    root: dict[str, Any] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        parts = _split_key(unquote_plus(key))
        node = root
        for name in parts[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        node[parts[-1]] = unquote_plus(value)
    return _listify(root)


def form_pairs(raw: str | bytes) -> list[tuple[str, str]]:
    """The raw key/value pairs of a form body, in order, decoded."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    pairs = []
    for pair in text.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def _split_key(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    parts = [head]
    while bracket:
        inner, _, rest = rest.partition("]")
        parts.append(inner)
        _, bracket, rest = rest.partition("[")
    return parts


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
