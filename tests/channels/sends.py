"""What the channel tests share: a cascade send on record, its status and the opt-outs as the
store keeps them, the rows a webhook left, and a connector served for an emulator's callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, func, select

from connector.app import create_app
from connector.cascades import outcomes
from connector.cascades.channels import Channel, channel
from connector.config import Settings
from connector.services import Services
from connector.store.tables import (
    cascade_sends,
    channel_optouts,
    inbound_events,
    task_errors,
    tasks,
)
from connector.worker import Worker
from connector_sandbox.runner import serve
from tests.support import make_settings, wait_for

FORM = "application/x-www-form-urlencoded"


def emptied(services: Services) -> Services:
    """`services` with the tasks, webhooks, sends and opt-outs of an earlier test deleted."""
    with services.engine.begin() as connection:
        for table in (tasks, task_errors, inbound_events, cascade_sends, channel_optouts):
            connection.execute(table.delete())
    return services


def a_send(
    services: Services,
    provider_id: str | None,
    *,
    channel: str,
    medium: str,
    address: str,
    run_id: int = 1,
    step: int = 1,
    key: str | None = None,
    customer_id: str = "c1",
    state: str = "sent",
    status: str | None = "queued",
    at: float = 0.0,
    **columns: Any,
) -> None:
    """Records the send of one cascade step (run 1, step 1 unless said), as the engine does."""
    values = {"sent_at": at} | columns if state == "sent" else columns
    with services.engine.begin() as connection:
        connection.execute(
            cascade_sends.insert().values(
                run_id=run_id,
                step=step,
                idem_key=key or f"{run_id}:{step}:{provider_id}",
                customer_id=customer_id,
                channel=channel,
                medium=medium,
                state=state,
                address=address,
                provider_id=provider_id,
                status=status,
                created_at=at,
                **values,
            )
        )


def status_of(services: Services, provider_id: str) -> str | None:
    """The provider's last delivery status on the send with this provider id."""
    with services.engine.connect() as connection:
        found: str | None = connection.scalar(
            select(cascade_sends.c.status).where(cascade_sends.c.provider_id == provider_id)
        )
        return found


def status_by_key(services: Services, key: str) -> str | None:
    """The provider's last delivery status on the send of this step's idempotency key."""
    with services.engine.connect() as connection:
        found: str | None = connection.scalar(
            select(cascade_sends.c.status).where(cascade_sends.c.idem_key == key)
        )
        return found


def opted_out(services: Services, medium: str, address: str) -> str | None:
    """Why the address is opted out of every scenario's `medium`, or None."""
    with services.engine.connect() as connection:
        return outcomes.opted_out(connection, medium, address)


def rows_in(services: Services, table: Table = inbound_events) -> int:
    """How many rows the table holds (the webhooks stored, unless said)."""
    with services.engine.connect() as connection:
        counted: int = connection.scalar(select(func.count()).select_from(table))
        return counted


def contract_of(services: Services, name: str) -> tuple[str, str, bool]:
    """The channel of the registry by that name, as (name, medium, lookup)."""
    found = channel(services, name)
    assert isinstance(found, Channel)
    return found.name, found.medium, found.lookup


def run_tasks(services: Services) -> None:
    """Runs every task queued until none is left."""
    Worker(services, threads=1).run_until_idle()


def post_form(app_client: Any, path: str, body: str | bytes, **headers: str) -> Any:
    """POSTs a url-encoded form to the connector's test client."""
    return app_client.post(path, data=body, content_type=FORM, headers=headers)


def emulator_settings(tmp_path: Any, sandbox: Any, *systems: str, **extra: object) -> Settings:
    """Settings on a store in `tmp_path` with the emulator's CONNECTOR_<SYSTEM>_* values."""
    prefixes = tuple(f"CONNECTOR_{system.upper()}_" for system in systems)
    env = {
        key.removeprefix("CONNECTOR_").lower(): value
        for key, value in sandbox.settings_env().items()
        if key.startswith(prefixes)
    }
    return make_settings(tmp_path, **env, **extra)


@contextmanager
def opened(settings: Settings) -> Iterator[Services]:
    """The connector's services on `settings`, closed when the block ends."""
    services = Services(settings)
    try:
        yield services
    finally:
        services.close()


def module_store(factory: Any, **settings: object) -> Iterator[Services]:
    """One store for a test module (opening one costs half a second), closed after its tests."""
    with opened(make_settings(factory.mktemp("store"), **settings)) as built:
        yield built


@contextmanager
def served(settings: Settings) -> Iterator[Services]:
    """The connector on `settings`, served on a loopback port that is its public URL."""
    with opened(settings) as services:
        server = serve(create_app(services))
        try:
            services.settings = services.settings.replace(public_url=server.url)
            yield services
        finally:
            server.stop()


def work_until(worker: Worker, check: Callable[[], object], timeout: float = 20) -> None:
    """Runs the worker's tasks until `check()` holds; fails the test after `timeout` seconds."""

    def done() -> object:
        worker.run_until_idle()
        return check()

    wait_for(done, timeout=timeout)
