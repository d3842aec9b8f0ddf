"""Fixtures every test area shares: settings on a temporary store, and the services.

The store is SQLite in a temporary folder. In the suites of `POSTGRES_SUITES` every test that
reaches the store (through `store_url`, which `settings`, `services` and the suites' worlds use)
runs twice, on SQLite and on PostgreSQL: the PostgreSQL variant runs only when TEST_POSTGRES_URL
names a scratch database (emptied before each test) and is skipped otherwise. A test that is
about SQLite itself is marked `sqlite_only` and runs once.

The sandbox fixtures (`sandbox`, `fresh_sandbox`, `sandbox_env`, `webhook_sink`) come from the
pytest plugin `connector_sandbox.pytest_plugin`, registered by installing ./sandbox.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from connector.config import Settings
from connector.services import Services
from tests.support import make_settings

# Suites (folders under tests/) whose store-using tests also run on PostgreSQL; tests/core uses
# `any_store_services` instead.
POSTGRES_SUITES = frozenset(
    {
        "flows",
        "loyalty",
        "sync",
        "delivery",
        "e2e",
        "cascades",
        "catalogue",
        "promo",
        "analytics",
        "channels",
    }
)
STORES = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: about SQLite itself; not repeated on PostgreSQL (say why)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One switch for the PostgreSQL variants: parametrizes `store_url` wherever it is used."""
    if "store_url" not in metafunc.fixturenames:
        return
    if "any_store_services" in metafunc.fixturenames:
        metafunc.parametrize("store_url", STORES, indirect=True)
        return
    suite = Path(metafunc.definition.path).relative_to(Path(__file__).parent).parts[0]
    if suite in POSTGRES_SUITES and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("store_url", STORES, indirect=True)


@functools.cache
def worker_database(url: str) -> str:
    """TEST_POSTGRES_URL for this process: under pytest-xdist each worker gets a database of its
    own beside that one (created on first use), so no worker empties another's store."""
    from sqlalchemy import create_engine, make_url, text

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        known = "SELECT 1 FROM pg_database WHERE datname = :name"
        if connection.scalar(text(known), {"name": name}) is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def empty_postgres(url: str) -> None:
    """Drops everything of an earlier run, so each test starts on a new store."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """CONNECTOR_DATABASE_URL of the test's store: SQLite in `tmp_path` unless parametrized
    with "postgresql", which is the emptied TEST_POSTGRES_URL (or a skip without it)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'connector.db'}"
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set TEST_POSTGRES_URL to run the PostgreSQL variant")
    url = worker_database(url)
    empty_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url=store_url, queue_backoff_base=0.01, queue_backoff_max=0.05
    )


@pytest.fixture
def services(settings: Settings):
    built = Services(settings)
    yield built
    built.close()


@pytest.fixture
def any_store_services(settings: Settings):
    """Services on SQLite and, when TEST_POSTGRES_URL names a scratch database
    (it is emptied), on PostgreSQL too: the code must run on both."""
    built = Services(settings)
    yield built
    built.close()
