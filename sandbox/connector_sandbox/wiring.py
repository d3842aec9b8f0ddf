"""Small pieces that tests and benchmarks both need to wire the connector to a running sandbox:
a free loopback port, waiting for a listener, and pointing the emulators' webhooks at the
connector the way `connector setup` does."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on now (for a server a test or bench starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listening(port: int, timeout: float = 30.0) -> None:
    """Returns once something accepts connections on the loopback `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def point_webhooks_at(
    sandbox: Any,
    url: str,
    *,
    woocommerce_topics: Sequence[str],
    bitrix24_events: Sequence[str],
    application_token: str,
) -> None:
    """Subscribes the connector at `url` to the WooCommerce emulator's topics and the Bitrix24
    emulator's outgoing events (what `connector setup` asks of the real systems)."""
    answer = sandbox.control(
        "woocommerce",
        "POST",
        "/admin/webhooks",
        json={"topics": list(woocommerce_topics), "delivery_url": f"{url}/webhooks/woocommerce"},
    )
    if answer.status_code != 201:
        raise RuntimeError(f"woocommerce webhooks: {answer.status_code} {answer.text}")
    answer = sandbox.control(
        "bitrix24",
        "POST",
        "/outgoing-webhooks",
        json={
            "handler": f"{url}/webhooks/bitrix24",
            "events": list(bitrix24_events),
            "application_token": application_token,
        },
    )
    if answer.status_code != 201:
        raise RuntimeError(f"bitrix24 outgoing webhooks: {answer.status_code} {answer.text}")
