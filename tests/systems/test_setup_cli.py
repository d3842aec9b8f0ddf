"""`connector setup SYSTEM` against the sandbox, twice: the second run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.systems.woocommerce import WEBHOOK_TOPICS

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
    # 3 of the contact mapping, 8 of mappings/analytics.yaml
    assert "user fields (contact): 11 wanted, 11 created" in first
    assert "user fields (deal): 8 wanted, 8 created" in first
    assert "0 created" in second and "already registered" in second
    assert "CONNECTOR_BITRIX24_APPLICATION_TOKEN=" in first
    hooks = fresh_sandbox.control("bitrix24", "GET", "/outgoing-webhooks").json()
    assert len(hooks) == 1 and hooks[0]["handler"].endswith("/webhooks/bitrix24")


def test_setup_mailchimp_woocommerce_and_cdek_twice(cli_env):
    first = run("mailchimp", cli_env)
    # 7 of the member mapping, 6 of mappings/analytics.yaml
    assert "merge fields: 13 wanted" in first and "registered" in first
    assert "mc-secret" not in first
    second = run("mailchimp", cli_env)
    assert "store sandbox-store: exists" in second and "0 created" in second
    assert f"{len(WEBHOOK_TOPICS)} created" in run("woocommerce", cli_env)
    assert f"{len(WEBHOOK_TOPICS)} kept" in run("woocommerce", cli_env)
    assert "subscribed" in run("cdek", cli_env) and "exists" in run("cdek", cli_env)


def test_missing_secret_is_one_clear_line(cli_env, monkeypatch):
    monkeypatch.delenv("CONNECTOR_MAILCHIMP_WEBHOOK_SECRET")
    result = CliRunner().invoke(main, ["setup", "mailchimp", "--env-file", cli_env])
    assert result.exit_code == 2
    assert "CONNECTOR_MAILCHIMP_WEBHOOK_SECRET" in result.output


def test_setup_run_from_another_folder_creates_the_fields_of_the_bundled_mappings(
    sandbox_env, webhook_sink, tmp_path, monkeypatch
):
    """The service falls back to the bundled mappings when ./mappings is missing; so does setup,
    or it would create no custom field while the service writes them."""
    from connector.config import load_settings
    from connector.services import Services
    from connector.systems.bitrix24.setup import user_fields_from_mappings
    from connector.systems.mailchimp.setup import merge_fields_from_mappings

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CONNECTOR_MAPPINGS_DIR", raising=False)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'connector.db'}")
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", webhook_sink.url)
    (elsewhere / "empty.env").write_text("")

    bitrix24 = run("bitrix24", "empty.env")
    mailchimp = run("mailchimp", "empty.env")

    services = Services(load_settings(env_file=None))
    assert services.mappings_path == REPO / "mappings"
    wanted = user_fields_from_mappings(REPO / "mappings")
    for entity in ("contact", "deal"):
        names = {f.field_name for f in wanted[entity]}
        assert f"user fields ({entity}): {len(names)} wanted, {len(names)} created" in bitrix24
        made = {f["FIELD_NAME"] for f in services.bitrix24.user_fields(entity)}
        assert names and names <= made
    tags = {f.tag for f in merge_fields_from_mappings(REPO / "mappings")}
    made_tags = {f["tag"] for f in services.mailchimp.merge_fields(sandbox_env[LIST_ID])}
    assert tags and tags <= made_tags and f"merge fields: {len(tags)} wanted" in mailchimp
    region = "phone region: numbers without + are read in"
    assert f"{region} RU (mappings: {REPO / 'mappings'})" in bitrix24
    assert f"{region} RU (mappings: {REPO / 'mappings'})" in mailchimp


def test_setup_says_that_woocommerce_phones_are_read_in_the_order_country(cli_env):
    assert "read in the record's own country when it has one, else RU" in run(
        "woocommerce", cli_env
    )


LIST_ID = "CONNECTOR_MAILCHIMP_LIST_ID"
