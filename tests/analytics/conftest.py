"""Fixtures of the analytics tests: the connector's own store and flows (no remote system), a
clock the test moves, and a shop that sells through the real order flow."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connector.flows.orders import ingest_order
from connector.identity import find_link
from connector.services import Services
from connector.tasks import TaskContext
from tests.admin.conftest import console_app  # noqa: F401 - the console tests' fixture
from tests.support import make_settings

DAY = 86400.0
START = 1_800_000_000.0  # 2027-01-15
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0) -> None:
        self.now += days * DAY


def moment(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)


class Shop:
    """Sells through `ingest_order`, as a web shop, Kaspi or the POS import would."""

    def __init__(self, services: Services, clock: Clock) -> None:
        self.services, self.clock = services, clock
        self.task_id = 0

    def ctx(self) -> TaskContext:
        self.task_id += 1
        task = SimpleNamespace(id=self.task_id, enqueued_at=self.clock(), attempts=1)
        return TaskContext(task=task, services=self.services)  # type: ignore[arg-type]

    def order(
        self,
        order_id: str,
        total: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        status: str = "processing",
        days_ago: float = 0,
        system: str = "shop",
        refunded: str | None = None,
        category: str | None = None,
        version: int = 1,
    ) -> str:
        at = moment(self.clock() - days_ago * DAY)
        custom: dict[str, Any] = {}
        if refunded is not None:
            custom["refunded_total"] = Decimal(refunded)
        lines = [{"id": "1", "sku": "S", "quantity": Decimal(1), "total": Decimal(total),
                  "custom": {"category": category} if category else {}}]  # fmt: skip
        canonical = {
            "id": order_id,
            "status": status,
            "total": Decimal(total),
            "email": email,
            "phone": phone,
            "created_at": at,
            "updated_at": at + dt.timedelta(seconds=version),
            "lines": lines,
            "custom": custom,
        }
        ingest_order(self.ctx(), system, order_id, canonical, self.clock() + version)
        return self.customer_of(system, order_id)

    def customer_of(self, system: str, order_id: str) -> str:
        engine = self.services.engine
        link = find_link(engine, "order", system, order_id)
        assert link is not None
        from connector.flows.hub import load_snapshot

        order = load_snapshot(engine, "order", link.canonical_id)
        assert order is not None
        return str(order["customer_id"])


@pytest.fixture
def mappings_dir(tmp_path: Path) -> Path:
    """A copy of the shipped mappings the test may edit."""
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(tmp_path: Path, mappings_dir: Path, clock: Clock):
    settings = make_settings(tmp_path, mappings_dir=mappings_dir)
    built = Services(settings)
    built.queue.clock = clock
    yield built
    built.close()


@pytest.fixture
def shop(services: Services, clock: Clock) -> Shop:
    return Shop(services, clock)
