"""Pytest fixtures that start the sandbox in-process on free ports, for end-to-end tests and
benchmarks.

A pytest plugin: installing this package registers it (the ``pytest11`` entry point in
``sandbox/pyproject.toml``), so any test suite gets the fixtures with no import. ``sandbox`` starts
every emulator once per session; ``fresh_sandbox`` is the same object, reset (state emptied, faults
off) before the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector_sandbox.runner import Sandbox
from connector_sandbox.sink import WebhookSink

__all__ = ["sandbox", "fresh_sandbox", "sandbox_env", "webhook_sink", "webhook_sink_server"]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """Every emulator on a free loopback port, started once for the whole test session."""
    with Sandbox() as running:
        yield running


@pytest.fixture
def fresh_sandbox(sandbox: Sandbox) -> Sandbox:
    """The session sandbox, emptied back to its start state and with every fault switched off."""
    sandbox.reset()
    return sandbox


@pytest.fixture
def sandbox_env(fresh_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Sets the ``CONNECTOR_*`` variables that point the connector at the fresh sandbox."""
    env = fresh_sandbox.settings_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def webhook_sink_server() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def webhook_sink(webhook_sink_server: WebhookSink) -> WebhookSink:
    """A loopback receiver (``.url``) recording every webhook sent to it; emptied for each test."""
    webhook_sink_server.clear()
    return webhook_sink_server
