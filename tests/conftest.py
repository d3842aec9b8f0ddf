"""Fixtures every test area shares: settings on a temporary SQLite store, and the services."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from connector.config import Settings
from connector.services import Services
from tests.support import make_settings

with contextlib.suppress(ImportError):  # the sandbox fixtures (connector/sandbox/testing.py)
    from connector.sandbox.testing import *  # noqa: F403


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, queue_backoff_base=0.01, queue_backoff_max=0.05)


@pytest.fixture
def services(settings: Settings):
    built = Services(settings)
    yield built
    built.close()
