"""A system's settings are declared in its own package and gathered into the one settings source."""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from click.testing import CliRunner

from connector.cli.config import config_command
from connector.config import (
    SystemSettings,
    all_settings,
    env_example,
    load_settings,
    positive,
    setting,
    settings_markdown,
)
from connector.errors import ConfigError
from connector.systems.kaspi.settings import KaspiSettings
from connector.systems.registry import ENTRY_POINT_GROUP, System, all_set

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class MarketSettings(SystemSettings):
    prefix: ClassVar[str] = "market"

    api_key: str | None = setting(None, "Market API key.", secret=True)
    pace: float = setting(2.0, "Market requests per second.", positive(float))


MARKET = System(name="market", settings=MarketSettings, configured=all_set("market_api_key"))


@pytest.fixture
def market_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A separately installed system, found through its entry point."""
    point = SimpleNamespace(name="market", load=lambda: MARKET)
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [point] if group == ENTRY_POINT_GROUP else [],
    )


def test_an_installed_system_brings_its_settings_to_env_the_docs_and_validation(market_installed):
    settings = load_settings(
        env={"CONNECTOR_MARKET_API_KEY": "mk-secret", "CONNECTOR_MARKET_PACE": "5"}, env_file=None
    )
    market = settings.of(MarketSettings)
    assert (market.api_key, market.pace) == ("mk-secret", 5.0)
    assert MARKET.is_configured(settings)
    assert "mk-secret" in settings.secrets()
    assert (
        "| `CONNECTOR_MARKET_PACE` | `2.0` | Market requests per second. |" in settings_markdown()
    )
    assert "# CONNECTOR_MARKET_API_KEY=\n" in env_example()  # a secret is never given a value
    with pytest.raises(ConfigError, match=r"CONNECTOR_MARKET_PACE='-1': must be greater than zero"):
        load_settings(env={"CONNECTOR_MARKET_PACE": "-1"}, env_file=None)
    with pytest.raises(ConfigError, match="did you mean CONNECTOR_MARKET_API_KEY"):
        load_settings(env={"CONNECTOR_MARKET_API_KEI": "x"}, env_file=None)


def test_connector_config_shows_a_systems_settings_and_hides_its_secrets(
    market_installed, tmp_path: Path
):
    env_file = tmp_path / ".env"
    env_file.write_text("CONNECTOR_MARKET_API_KEY=mk-secret\nCONNECTOR_MARKET_PACE=3\n")
    result = CliRunner().invoke(config_command, ["--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    assert "CONNECTOR_MARKET_API_KEY=***" in result.output
    assert "CONNECTOR_MARKET_PACE=3.0" in result.output
    assert "mk-secret" not in result.output


def test_without_its_system_registered_a_settings_class_reads_as_its_defaults():
    settings = load_settings(env={}, env_file=None)
    assert settings.of(MarketSettings) == MarketSettings()
    assert not any(s.env.startswith("CONNECTOR_MARKET_") for s in all_settings())
    with pytest.raises(ConfigError, match="unknown setting CONNECTOR_MARKET_PACE"):
        load_settings(env={"CONNECTOR_MARKET_PACE": "3"}, env_file=None)


def test_kaspi_reads_its_settings_typed_and_a_change_by_flat_name_reaches_its_group():
    settings = load_settings(
        env={"CONNECTOR_KASPI_TOKEN": "kz-token", "CONNECTOR_KASPI_AUTO_ACCEPT": "yes"},
        env_file=None,
    )
    kaspi = settings.of(KaspiSettings)
    assert (kaspi.token, kaspi.auto_accept, kaspi.poll_minutes) == ("kz-token", True, 5.0)
    changed = settings.replace(kaspi_poll_minutes=0.5, http_port=9000)
    assert changed.of(KaspiSettings).poll_minutes == 0.5 and changed.http_port == 9000
    assert settings.of(KaspiSettings).poll_minutes == 5.0  # the original is untouched
    with pytest.raises(TypeError, match="kaspi_poll_minute"):
        settings.replace(kaspi_poll_minute=1)


def test_the_committed_env_example_still_lists_kaspis_settings_under_the_same_names():
    committed = (ROOT / ".env.example").read_text()
    for name in ("URL", "AUTO_ACCEPT", "POLL_MINUTES"):
        assert re.search(rf"^CONNECTOR_KASPI_{name}=", committed, re.M)
    assert "# CONNECTOR_KASPI_TOKEN=\n" in committed


def test_outside_its_own_package_the_runtime_names_kaspi_only_in_the_registry():
    named = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "connector").rglob("*.py")
        if "kaspi" in path.read_text().lower() and "systems/kaspi/" not in path.as_posix()
    )
    assert named == ["connector/systems/registry.py"]
