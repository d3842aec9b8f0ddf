"""Slow clients cannot stop the web servers: many connections that send their headers and then
stall (or send nothing at all) leave `/healthz` and the webhooks answering, and are themselves
answered 408 or closed once `CONNECTOR_HTTP_READ_TIMEOUT` has passed. Loopback only."""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from connector.web_server import WholeRequestWSGI, waitress_server
from tests.core.test_processes import get_json, post_order_webhook, process_env
from tests.support import free_port, wait_for

READ_TIMEOUT = 2.0  # seconds, short so that the test sees the stalled connections closed
GRACE = 10.0  # what "promptly" allows on a shared machine: a liveness bound, not a speed test
STALLED_HEAD = (
    b"POST /webhooks/woocommerce HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
)


def open_stalled(port: int, count: int, head: bytes = STALLED_HEAD) -> list[socket.socket]:
    """`count` connections that send `head` (a body promised, one byte of it sent) and stall."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=GRACE)
        if head:
            sock.sendall(head)
        sockets.append(sock)
    return sockets


def what_each_got_before_closing(sockets: list[socket.socket], within: float) -> list[bytes | None]:
    """Reads every connection until the server closes it: what it sent, or None for a
    connection still open after `within` seconds."""
    received: dict[socket.socket, bytes] = {sock: b"" for sock in sockets}
    closed: dict[socket.socket, bytes] = {}
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + within
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:  # reset: closed too
                data = b""
            if data:
                received[sock] += data
            else:
                closed[sock] = received[sock]
                selector.unregister(sock)
    selector.close()
    for sock in sockets:
        sock.close()
    return [closed.get(sock) for sock in sockets]


def assert_answered_408_or_closed(outcomes: list[bytes | None]) -> None:
    still_open = outcomes.count(None)
    assert still_open == 0, f"{still_open} of {len(outcomes)} stalled connections still open"
    for got in outcomes:
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:80]


def healthz_status(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=GRACE) as response:
        return json.loads(response.read())["status"]


def start(command: str, tmp_path: Path, port: int) -> subprocess.Popen:
    env = process_env(
        f"sqlite:///{tmp_path / 'slow.db'}",
        port,
        CONNECTOR_HTTP_THREADS="4",
        CONNECTOR_HTTP_READ_TIMEOUT=str(READ_TIMEOUT),
        CONNECTOR_WOOCOMMERCE_WEBHOOK_SECRET="s3cret",
        CONNECTOR_LOG_LEVEL="warning",
    )
    connector = Path(sys.executable).with_name("connector")
    process = subprocess.Popen(
        [str(connector), command], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    wait_for(lambda: get_json(f"http://127.0.0.1:{port}/healthz") is not None, timeout=30)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_serve_answers_health_and_webhooks_while_64_clients_stall_and_closes_the_stalled(
    tmp_path,
):
    port = free_port()
    process = start("serve", tmp_path, port)
    try:
        stalled = open_stalled(port, 64)  # four times the threads: each used to hold one
        silent = open_stalled(port, 16, head=b"")  # connected, and not a byte sent
        assert healthz_status(port) == "ok"
        status, body = post_order_webhook(port, 1, "s3cret")
        assert (status, body["status"]) == (200, "accepted")

        assert_answered_408_or_closed(
            what_each_got_before_closing(stalled + silent, within=READ_TIMEOUT + GRACE)
        )
        assert healthz_status(port) == "ok"
    finally:
        stop(process)


def test_run_answers_health_and_webhooks_while_200_clients_stall_and_closes_the_stalled(
    tmp_path,
):
    port = free_port()
    process = start("run", tmp_path, port)
    try:
        stalled = open_stalled(port, 200)  # twice what used to fill every connection slot
        assert healthz_status(port) in ("ok", "degraded")
        status, body = post_order_webhook(port, 1, "s3cret")
        assert (status, body["status"]) == (200, "accepted")

        outcomes = what_each_got_before_closing(stalled, within=READ_TIMEOUT + GRACE)
        assert_answered_408_or_closed(outcomes)
        assert any(got.startswith(b"HTTP/1.1 408") for got in outcomes if got)
    finally:
        stop(process)


# The deadline is on the whole request, not on the silence between two bytes: a client that
# sends a byte now and then is cut off all the same.


def hello(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"got " + body]


def test_waitress_cuts_off_a_client_that_trickles_its_body_a_byte_at_a_time():
    server = waitress_server(
        hello,
        host="127.0.0.1",
        port=0,
        threads=2,
        read_timeout=1.0,
        connection_limit=10,
        max_body_bytes=1000,
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.effective_port), timeout=GRACE)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        answer = b""
        for _ in range(40):  # a byte each 0.2 s: never silent for the idle time-out
            try:
                sock.sendall(b"x")
            except OSError:
                break
            sock.settimeout(0.2)
            try:
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
        assert b'"error": "request_timeout"' in answer
        sock.close()

        with urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{server.effective_port}/", data=b"whole", method="POST"
            ),
            timeout=GRACE,
        ) as response:
            assert response.read() == b"got whole"
    finally:
        server.close()


class FakeProtocol:
    """What granian hands an RSGI app for one HTTP request: the body as chunks, and the
    response methods (here they record the answer)."""

    def __init__(self, chunks: list[bytes], pause: float = 0.0, forever: bool = False):
        self.chunks = chunks
        self.pause = pause
        self.forever = forever
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def _body(self):
        for chunk in self.chunks:
            await asyncio.sleep(self.pause)
            yield chunk
        while self.forever:
            await asyncio.sleep(self.pause)
            yield b"x"

    async def __call__(self) -> bytes:
        return b"".join([chunk async for chunk in self._body()])

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)


class FakeHeaders:
    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs


class FakeScope:
    proto = "http"
    http_version = "1.1"
    scheme = "http"
    server = "127.0.0.1:8000"
    client = "127.0.0.1:54321"

    def __init__(self, method: str, path: str, query: str, headers: list[tuple[str, str]]):
        self.method = method
        self.path = path
        self.query_string = query
        self.headers = FakeHeaders(headers)


def serve_one(app: WholeRequestWSGI, scope: FakeScope, proto: FakeProtocol) -> tuple:
    asyncio.run(app.__rsgi__(scope, proto))
    app.__rsgi_del__(None)
    assert proto.answer is not None
    return proto.answer


def echo(environ, start_response):
    seen = {
        key: environ[key]
        for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH")
        if key in environ
    }
    seen.update({key: value for key, value in environ.items() if key.startswith("HTTP_")})
    seen["body"] = environ["wsgi.input"].read().decode()
    start_response("201 Created", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def test_serve_hands_the_app_the_whole_request_with_its_path_query_and_headers():
    app = WholeRequestWSGI(echo, threads=1, read_timeout=5, max_body_bytes=1000)
    scope = FakeScope(
        "POST",
        "/webhooks/caf\u00e9",  # granian gives the path decoded
        "a=1&b=%20",
        [
            ("host", "shop"),
            ("x-wc-webhook-topic", "order.created"),
            ("x-many", "1"),
            ("x-many", "2"),
            ("x_many", "smuggled"),  # an underscore name could pass for x-many: dropped
            ("content-length", "9"),
        ],
    )
    status, headers, body = serve_one(app, scope, FakeProtocol([b'{"id":', b" 7}"], pause=0.01))
    assert status == 201 and ("Content-Type", "application/json") in headers
    assert json.loads(body) == {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/caf\u00e9".encode().decode("latin-1"),  # WSGI's byte string
        "QUERY_STRING": "a=1&b=%20",
        "CONTENT_LENGTH": "9",
        "HTTP_HOST": "shop",
        "HTTP_X_WC_WEBHOOK_TOPIC": "order.created",
        "HTTP_X_MANY": "1, 2",
        "body": '{"id": 7}',
    }


def never_called(environ, start_response):
    raise AssertionError("the app was called")


@pytest.mark.parametrize("forever", [False, True], ids=["stalls", "trickles"])
def test_serve_answers_408_to_a_body_that_does_not_arrive_in_time_and_never_calls_the_app(
    forever,
):
    app = WholeRequestWSGI(never_called, threads=1, read_timeout=0.3, max_body_bytes=1000)
    scope = FakeScope("POST", "/webhooks/woocommerce", "", [("content-length", "100")])
    proto = FakeProtocol([b"{"], pause=0.05 if forever else 3600, forever=forever)
    status, headers, body = serve_one(app, scope, proto)
    assert status == 408 and ("connection", "close") in headers
    assert json.loads(body)["error"] == "request_timeout"


def test_serve_refuses_a_body_over_the_limit_or_of_unknown_length_without_reading_it():
    app = WholeRequestWSGI(never_called, threads=1, read_timeout=5, max_body_bytes=10)
    too_large = FakeScope("POST", "/x", "", [("content-length", "11")])
    status, _, body = serve_one(app, too_large, FakeProtocol([], pause=3600, forever=True))
    assert status == 413 and json.loads(body)["error"] == "too_large"

    # granian ends a chunked body cut short as if it were whole: it must not reach the app
    chunked = FakeScope("POST", "/x", "", [("transfer-encoding", "chunked")])
    status, _, body = serve_one(app, chunked, FakeProtocol([], pause=3600, forever=True))
    assert status == 411 and "Content-Length" in json.loads(body)["message"]


def test_serve_gives_each_of_many_concurrent_requests_its_own_answer_from_few_threads():
    """200 requests at once on the loop, 4 app threads: every one gets the answer to its own
    body (the hand-off from threads back to the loop never crosses two requests)."""
    app = WholeRequestWSGI(echo, threads=4, read_timeout=5, max_body_bytes=1000)

    async def all_at_once() -> list[tuple]:
        protos = [FakeProtocol([f'"{n}"'.encode()]) for n in range(200)]
        scopes = [
            FakeScope("POST", f"/n/{n}", "", [("content-length", str(len(f'"{n}"')))])
            for n in range(200)
        ]
        await asyncio.gather(*(app.__rsgi__(s, p) for s, p in zip(scopes, protos, strict=True)))
        return [p.answer for p in protos]

    answers = asyncio.run(all_at_once())
    app.__rsgi_del__(None)
    bodies = [json.loads(body) for _, _, body in answers]
    assert [b["PATH_INFO"] for b in bodies] == [f"/n/{n}" for n in range(200)]
    assert [b["body"] for b in bodies] == [f'"{n}"' for n in range(200)]


def test_an_app_that_fails_answers_500_and_the_next_request_is_served():
    calls = []

    def fails_once(environ, start_response):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return echo(environ, start_response)

    app = WholeRequestWSGI(fails_once, threads=1, read_timeout=5, max_body_bytes=1000)
    scope = FakeScope("POST", "/x", "", [("content-length", "2")])
    statuses, bodies = asyncio.run(_twice(app, scope))
    assert statuses == [500, 201]
    assert json.loads(bodies[0])["error"] == "internal"
    app.__rsgi_del__(None)


async def _twice(app: WholeRequestWSGI, scope: FakeScope) -> tuple[list[int], list[bytes]]:
    statuses, bodies = [], []
    for _ in range(2):
        proto = FakeProtocol([b"{}"])
        await app.__rsgi__(scope, proto)
        assert proto.answer is not None
        statuses.append(proto.answer[0])
        bodies.append(proto.answer[2])
    return statuses, bodies
