"""Fixtures of the sync tests: services on a temporary store, pointed at the sandbox when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.services import Services
from connector.store import reading
from connector.store.tables import tasks
from tests.support import make_settings


def sandbox_services(tmp_path: Path, sandbox: Any, **extra: Any) -> Services:
    """Services whose clients talk to the sandbox (only loopback)."""
    env = {k.removeprefix("CONNECTOR_").lower(): v for k, v in sandbox.settings_env().items()}
    return Services(make_settings(tmp_path, **env, **extra))


@pytest.fixture
def shop_services(tmp_path: Path, fresh_sandbox: Any, store_url: str):
    built = sandbox_services(tmp_path, fresh_sandbox, database_url=store_url)
    yield built
    built.close()


def queued(services: Services, kind: str | None = None) -> list[dict[str, Any]]:
    """Every task in the store (of one kind), oldest first."""
    query = select(tasks).order_by(tasks.c.id)
    if kind:
        query = query.where(tasks.c.kind == kind)
    with reading(services.engine) as connection:
        return [dict(r) for r in connection.execute(query).mappings()]
