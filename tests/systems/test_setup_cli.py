"""`connector setup SYSTEM` against the sandbox, twice: the second run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main

pytest.importorskip("connector_sandbox.runner")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(sandbox_env, webhook_sink, tmp_path, monkeypatch):
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    values = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_PUBLIC_URL": webhook_sink.url,
        "CONNECTOR_MAPPINGS_DIR": str(tmp_path / "mappings"),
        "CONNECTOR_MAILCHIMP_WEBHOOK_SECRET": "mc-secret",
        "CONNECTOR_CDEK_WEBHOOK_SECRET": "cdek-secret",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return str(env_file)


def run(system: str, env_file: str) -> str:
    result = CliRunner().invoke(main, ["setup", system, "--env-file", env_file])
    assert result.exit_code == 0, result.output
    return result.output


def test_setup_bitrix24_twice(cli_env, fresh_sandbox):
    first, second = run("bitrix24", cli_env), run("bitrix24", cli_env)
    assert "user fields (contact): 3 wanted, 3 created" in first
    assert "user fields (deal): 5 wanted, 5 created" in first
    assert "0 created" in second and "already registered" in second
    assert "CONNECTOR_BITRIX24_APPLICATION_TOKEN=" in first
    hooks = fresh_sandbox.control("bitrix24", "GET", "/outgoing-webhooks").json()
    assert len(hooks) == 1 and hooks[0]["handler"].endswith("/webhooks/bitrix24")


def test_setup_mailchimp_woocommerce_and_cdek_twice(cli_env):
    first = run("mailchimp", cli_env)
    assert "merge fields: 7 wanted" in first and "registered" in first
    assert "mc-secret" not in first
    second = run("mailchimp", cli_env)
    assert "store sandbox-store: exists" in second and "0 created" in second
    assert "6 created" in run("woocommerce", cli_env)
    assert "6 kept" in run("woocommerce", cli_env)
    assert "subscribed" in run("cdek", cli_env) and "exists" in run("cdek", cli_env)


def test_missing_secret_is_one_clear_line(cli_env, monkeypatch):
    monkeypatch.delenv("CONNECTOR_MAILCHIMP_WEBHOOK_SECRET")
    result = CliRunner().invoke(main, ["setup", "mailchimp", "--env-file", cli_env])
    assert result.exit_code == 2
    assert "CONNECTOR_MAILCHIMP_WEBHOOK_SECRET" in result.output
