"""A console app served on a free port for the browser, for tests that build their own app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

from tests.admin.conftest import Console, ConsoleApp


@contextmanager
def served(built: ConsoleApp, browser: Any, sandbox: Any = None) -> Iterator[Console]:
    """`built` served on 127.0.0.1 (any free port) as a `Console` with its `page(role)`."""
    server = make_server("127.0.0.1", 0, built.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = Console(
        built.services,
        built.app,
        built.accounts,
        url=f"http://127.0.0.1:{server.server_port}",
        browser=browser,
        sandbox=sandbox,
    )
    try:
        yield running
    finally:
        running.close()
        server.shutdown()
        thread.join(5)
