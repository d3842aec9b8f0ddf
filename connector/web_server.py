"""The web servers' guard against slow clients: no request holds a thread while it arrives.

A client that sends its headers and then its body a byte at a time (or not at all) must not
take a thread of the web server, nor a connection slot for longer than the read time-out
(`CONNECTOR_HTTP_READ_TIMEOUT`), and at most `CONNECTOR_HTTP_CONNECTION_LIMIT` connections are
held at once, so that `/healthz` and the webhooks keep answering without a front proxy.

- `connector serve` (granian) speaks HTTP/1.1 only, so that granian's header time-out runs
  from the moment a connection opens and between two requests of a kept-alive connection.
  Granian's own WSGI interface hands a request to a Python thread as soon as its headers are in
  and lets `wsgi.input.read()` wait for the body in that thread, with no time-out; so the app
  runs under granian's asynchronous interface (RSGI) through `WholeRequestWSGI`, which reads
  the whole body on the event loop, against the clock, and only then gives the request to a
  thread.
- `connector run` (waitress) already reads every request whole before a thread sees it;
  `waitress_server` adds the missing deadline on the time a request may take to arrive, lets
  more connections in, and closes idle ones after about the same time.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from granian.rsgi import ProtocolClosed, ProtocolError
from waitress.channel import HTTPChannel

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger("connector")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

_JSON = ("content-type", "application/json")
_CLOSE = ("connection", "close")


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode()


Answer = tuple[int, Headers, bytes]
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Answer]", dict[str, Any]]


class AppThreads:
    """`threads` threads that run a blocking call for an event loop, one request each.

    A request goes in on a queue and its answer comes back by one `call_soon_threadsafe`:
    `run_in_executor` would build a `concurrent.futures.Future` (with its `Condition`) and chain
    it to the loop's future for every request, which at a thousand webhooks a second is a
    measurable share of the server's CPU.
    """

    def __init__(self, threads: int, call: Callable[[dict[str, Any]], Answer]) -> None:
        self._call = call
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"http_{n}", daemon=True)
            for n in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, loop: asyncio.AbstractEventLoop, environ: dict[str, Any]
    ) -> asyncio.Future[Answer]:
        answer: asyncio.Future[Answer] = loop.create_future()
        self._jobs.put((loop, answer, environ))
        return answer

    def shutdown(self) -> None:
        """Lets the requests already queued finish, then ends the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, answer, environ = job
            try:
                result = self._call(environ)
            except BaseException as error:  # noqa: BLE001 - the waiting request must hear of it
                loop.call_soon_threadsafe(_settle, answer, None, error)
                if not isinstance(error, Exception):
                    raise
                continue
            loop.call_soon_threadsafe(_settle, answer, result, None)


def _settle(
    answer: asyncio.Future[Answer], result: Answer | None, error: BaseException | None
) -> None:
    if answer.done():  # the request was cancelled meanwhile (its client left)
        return
    if error is not None:
        answer.set_exception(error)
    else:
        assert result is not None
        answer.set_result(result)


class WholeRequestWSGI:
    """An RSGI application (granian's asynchronous interface) that serves a WSGI app.

    The body, of a declared length up to `max_body_bytes` (else 413; 411 for a chunked one), is
    read on the event loop, where a waiting client costs no thread, within `read_timeout`
    seconds (else 408 and the connection is closed); only then does one of `threads` threads
    run the WSGI app on the whole request. Its cost, the hand-over from the event loop to a
    thread and back: about 0.2 ms of CPU per request more than granian's own WSGI interface
    (bench/slow_clients.py), which hands requests to threads from Rust.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int,
        read_timeout: float,
        max_body_bytes: int,
        multiprocess: bool = False,
    ) -> None:
        self.app = app
        self.threads = threads
        self.read_timeout = read_timeout
        self.max_body_bytes = max_body_bytes
        self.multiprocess = multiprocess
        self._pool: AppThreads | None = None

    # RSGI hooks: granian calls these with each server process's event loop.
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = AppThreads(self.threads, self._call_app)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":  # websockets are not served
            return
        headers = scope.headers.items()
        declared = _declared_length(headers)
        if declared is None:
            # A chunked body's size is unknown until its end, and granian reports a chunked body
            # cut short as one that ended: only a declared length lets the whole body be
            # checked before the app sees it. Every webhook sender declares it.
            message = "send the body with a Content-Length header (chunked bodies are refused)"
            proto.response_bytes(411, [_JSON, _CLOSE], _error("length_required", message))
            return
        if declared > self.max_body_bytes:
            message = f"body over {self.max_body_bytes} bytes"
            proto.response_bytes(413, [_JSON, _CLOSE], _error("too_large", message))
            return
        body = b""
        if declared:
            try:
                async with asyncio.timeout(self.read_timeout):
                    body = bytes(await proto())  # granian stops at the declared length
            except TimeoutError:
                log.debug("request from %s not received in %ss", scope.client, self.read_timeout)
                message = f"request not received within {self.read_timeout:g} s"
                proto.response_bytes(408, [_JSON, _CLOSE], _error("request_timeout", message))
                return
            except (ProtocolClosed, ProtocolError):
                return  # the client left before sending it all: nobody to answer
        environ = self._environ(scope, headers, body)
        if self._pool is None:  # granian calls __rsgi_init__ first; a bare test may not
            self._pool = AppThreads(self.threads, self._call_app)
        status, response_headers, response_body = await self._pool.submit(
            asyncio.get_running_loop(), environ
        )
        proto.response_bytes(status, response_headers, response_body)

    def _call_app(self, environ: dict[str, Any]) -> Answer:
        """Runs in a thread of the pool: the WSGI call, and the response read whole."""
        started: list[Any] = []

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.write

        written = io.BytesIO()
        try:
            result = self.app(environ, start_response)
            try:
                for chunk in result:
                    written.write(chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = started
            return int(status.split(" ", 1)[0]), list(headers), written.getvalue()
        except Exception:
            log.exception("the web app failed on %s", environ.get("PATH_INFO"))
            message = "internal error; nothing was acknowledged"
            return 500, [_JSON], _error("internal", message)

    def _environ(self, scope: Any, headers: Headers, body: bytes) -> dict[str, Any]:
        server_host, server_port = _host_and_port(scope.server)
        client_host, client_port = _host_and_port(scope.client)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            # granian gives the path percent-decoded as text; WSGI wants its bytes as latin-1
            "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": server_host,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "SERVER_SOFTWARE": "connector",
            "REMOTE_ADDR": client_host,
            "REMOTE_PORT": client_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            if "_" in name:  # as waitress: `X_Token` must not pass for `X-Token`
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
        return environ


def _declared_length(headers: Headers) -> int | None:
    """The body's declared length: 0 without a body, None when chunked."""
    length = None
    for name, value in headers:
        if name == "transfer-encoding":
            return None
        if name == "content-length":
            length = value
    if length is None:
        return 0
    try:
        return max(0, int(length))
    except ValueError:
        return None  # hyper refuses such a request before it reaches us


def _host_and_port(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


class DeadlineChannel(HTTPChannel):
    """A waitress connection whose request (headers and body) must arrive within
    `read_timeout` seconds of its first byte, or it is answered 408 and closed.

    Waitress only closes a connection after `channel_timeout` seconds *without any byte*, so a
    client sending a byte now and then would keep its connection for ever. The check runs in
    `readable()`, which waitress's loop calls for every connection at least once a second.
    """

    read_timeout = 10.0
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        before = self.request
        result = super().received(data)
        if self.request is None:
            self.request_started = None
        elif self.request is not before:
            self.request_started = time.monotonic()
        return result

    def readable(self) -> bool:
        if (
            self.request_started is not None
            and self.request is not None
            and not self.requests  # nothing being answered: the 408 cannot cut a response
            and not self.will_close
            and not self.close_when_flushed
            and time.monotonic() - self.request_started > self.read_timeout
        ):
            self._answer_timeout()
        return bool(super().readable())

    def _answer_timeout(self) -> None:
        body = _error("request_timeout", f"request not received within {self.read_timeout:g} s")
        response = (
            b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        with self.outbuf_lock:
            self.outbufs[-1].append(response)
            self.current_outbuf_count += len(response)
            self.total_outbufs_len += len(response)
        self.request = None
        self.request_started = None
        self.close_when_flushed = True


def waitress_server(
    app: WSGIApp,
    *,
    host: str,
    port: int,
    threads: int,
    read_timeout: float,
    connection_limit: int,
    max_body_bytes: int,
) -> MultiSocketServer | BaseWSGIServer:
    """A waitress server (not yet running) that bounds what slow and idle clients can hold:
    `connection_limit` connections, each request given `read_timeout` seconds to arrive (and
    `max_body_bytes` of body, where waitress would buffer a gigabyte), and a connection idle
    for about as long closed."""
    from waitress.server import create_server

    raise_open_files_limit(connection_limit)
    # a second more than the request deadline, so that a stalled request gets its 408 first
    idle_seconds = math.ceil(read_timeout) + 1
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="connector",
        # waitress counts its own listening socket and wake-up pipe among the connections
        connection_limit=connection_limit + 2,
        channel_timeout=idle_seconds,
        cleanup_interval=1,
        backlog=2048,
        max_request_body_size=max_body_bytes,
        asyncore_use_poll=True,  # select() cannot watch more than 1,024 sockets
    )
    channel = type("Channel", (DeadlineChannel,), {"read_timeout": float(read_timeout)})
    for listener in listeners(server):
        listener.channel_class = channel
    return server


def listeners(server: MultiSocketServer | BaseWSGIServer) -> list[BaseWSGIServer]:
    """The server's listening sockets: itself, or each one of a host that resolves to several
    addresses (`localhost` to 127.0.0.1 and ::1), which waitress serves by a `MultiSocketServer`."""
    from waitress.server import BaseWSGIServer

    if isinstance(server, BaseWSGIServer):
        return [server]
    # the map holds its dispatchers (types-waitress says sockets)
    dispatchers: list[object] = list((server.map or {}).values())
    return [each for each in dispatchers if isinstance(each, BaseWSGIServer)]


def stop_serving(server: MultiSocketServer | BaseWSGIServer, grace: float) -> None:
    """Stops a waitress server (from a signal handler) so that its `run()` returns: no new
    connection; an idle keep-alive connection closes on the loop's next turn, a busy one once
    its answer is sent, and what is still open after `grace` seconds is closed.

    waitress's own `close` stops only the listener, and with it the clean-up of idle
    connections (the listener runs it): its loop ran on for as long as any client, a webhook
    sender's pooled session say, kept a connection open."""
    found = listeners(server)
    for listener in found:
        listener.close()
    deadline = time.monotonic() + grace

    def drain() -> None:
        while time.monotonic() < deadline and any(each.active_channels for each in found):
            for listener in found:
                listener.maintenance(sys.maxsize)  # every channel without a request will close
            time.sleep(0.1)
        for listener in found:
            # a dict at run time (types-waitress says one channel)
            channels: dict[int, HTTPChannel] = listener.active_channels  # type: ignore[assignment]
            for channel in list(channels.values()):
                channel.close()

    threading.Thread(target=drain, name="web-stop", daemon=True).start()


def bound_port(server: MultiSocketServer | BaseWSGIServer) -> int:
    """The port the server listens on (`port=0` asks for a free one); the first of several."""
    return int(listeners(server)[0].getsockname()[1])


def raise_open_files_limit(connection_limit: int) -> None:
    """Lets this process hold `connection_limit` connections besides its files (the soft
    limit is often 1,024), as far as the hard limit allows."""
    wanted = connection_limit + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
