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


def empty_postgres(url: str) -> None:
    """Drops everything of an earlier run, so each test starts on a new store."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_services(request, tmp_path: Path):
    """Services on SQLite and, when TEST_POSTGRES_URL names a scratch database
    (it is emptied), on PostgreSQL too: the code must run on both."""
    import os

    if request.param == "sqlite":
        built = Services(make_settings(tmp_path, queue_backoff_base=0.01, queue_backoff_max=0.05))
    else:
        url = os.environ.get("TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set TEST_POSTGRES_URL to run the PostgreSQL variant")
        empty_postgres(url)
        built = Services(make_settings(tmp_path, database_url=url))
    yield built
    built.close()
