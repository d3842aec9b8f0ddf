"""The core asks the registry, not a list of names: status's webhook checks, the full sync's
systems and trace's phone region come from what each system declares."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from connector.cli.status import collect_status
from connector.services import Services
from connector.sync.full import FullSync, UnknownSystem
from connector.sync.trace import default_region
from connector.systems.registry import Registry, System, all_set
from tests.support import make_settings

CHECK = {"checked_at": 0.0, "reason": "start", "ours": 2, "disabled": 0}


def market_webhooks(engine: object) -> dict[str, object]:
    return dict(CHECK)


MARKET = System(
    name="market",
    configured=all_set("public_url"),
    webhook_check=market_webhooks,
    sales_channel=True,
)


@pytest.fixture
def services(tmp_path: Path):
    built = Services(make_settings(tmp_path))
    yield built
    built.close()


def test_status_shows_the_webhook_check_each_configured_system_declares(services):
    services.__dict__["systems"] = Registry([*Registry.discover(), MARKET])
    webhooks = collect_status(services)["webhooks"]
    assert webhooks == {"market": CHECK}  # WooCommerce declares one too, but is not configured


def test_with_nothing_configured_the_full_sync_names_the_systems_that_have_one(services):
    with pytest.raises(UnknownSystem) as raised:
        FullSync(services).systems(None)
    message = str(raised.value)
    for name in ("woocommerce", "bitrix24", "kaspi"):
        assert name in message


def test_the_phone_region_is_read_from_the_first_sales_channel_the_registry_names():
    regions = {("market", "customer"): "KZ", ("woocommerce", "customer"): "RU"}

    def get(system: str, entity: str) -> SimpleNamespace:
        if (system, entity) not in regions:
            raise LookupError(system)
        return SimpleNamespace(options={"phone_region": regions[(system, entity)]})

    mappings = SimpleNamespace(get=get)
    assert default_region(mappings, Registry([MARKET])) == "KZ"  # type: ignore[arg-type]
    assert default_region(mappings, Registry.discover()) == "RU"  # type: ignore[arg-type]
    assert default_region(mappings, Registry([])) == "RU"  # the DEFAULT_REGION
