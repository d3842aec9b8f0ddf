"""The core asks the registry, not a list of names: status's webhook checks, the full sync's
systems and trace's phone region come from what each system declares."""

from __future__ import annotations

import ast
import re
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


SYSTEM_NAMES = re.compile(r"bitrix24|mailchimp|woocommerce|cdek|novaposhta|kaspi|^shop$", re.I)
READ_THROUGH_THE_REGISTRY = (
    "webhooks.py",
    "connector/sync/full.py",
    "connector/sync/trace.py",
    "connector/cli/status.py",
    "connector/flows/hub.py",
)


def code_names(path: Path) -> set[str]:
    """Every identifier and string in a module's code (docstrings and comments left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.add(node.value)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name)
    return found


@pytest.mark.parametrize("module", READ_THROUGH_THE_REGISTRY)
def test_the_core_modules_that_read_the_registry_name_no_system_in_their_code(module):
    root = Path(__file__).resolve().parents[2]
    named = sorted(name for name in code_names(root / module) if SYSTEM_NAMES.search(name))
    assert named == []
