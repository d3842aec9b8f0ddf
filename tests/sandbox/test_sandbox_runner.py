"""The runner starts every emulator on loopback, points the connector at them, and resets them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import requests

from connector.config import load_settings
from connector_sandbox.runner import EMULATORS, Sandbox


def test_every_emulator_answers_on_its_own_loopback_port(fresh_sandbox: Sandbox) -> None:
    present = [n for n in EMULATORS if importlib.util.find_spec(f"connector_sandbox.{n}")]
    assert set(fresh_sandbox.urls) == set(present)
    ports = {url.rsplit(":", 1)[1] for url in fresh_sandbox.urls.values()}
    assert len(ports) == len(fresh_sandbox.urls)
    for name, url in fresh_sandbox.urls.items():
        assert url.startswith("http://127.0.0.1:")
        state = requests.get(f"{url}/_sandbox/state", timeout=5)
        assert state.status_code == 200, name
        faults = requests.get(f"{url}/_sandbox/faults", timeout=5).json()
        assert faults["error_rate"] == 0, name


def test_settings_env_is_understood_by_the_connector(fresh_sandbox: Sandbox) -> None:
    env = fresh_sandbox.settings_env()
    settings = load_settings(env=env, env_file=None)
    assert settings.mailchimp_api_url == fresh_sandbox.urls["mailchimp"] + "/3.0"
    assert settings.mailchimp_list_id == "sandbox-list"
    assert settings.mailchimp_store_id == "sandbox-store"
    assert settings.woocommerce_url == fresh_sandbox.urls["woocommerce"]
    assert settings.woocommerce_key.startswith("ck_")
    assert settings.woocommerce_secret.startswith("cs_")
    key = settings.mailchimp_api_key
    assert len(key.split("-")[0]) == 32 and key.endswith("-us1")
    for value in env.values():
        if value.startswith("http"):
            assert value.startswith("http://127.0.0.1:")
    if "bitrix24" in fresh_sandbox.urls:
        assert settings.bitrix24_webhook_url.startswith(fresh_sandbox.urls["bitrix24"] + "/rest/1/")


def test_env_file_holds_every_setting(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "sandbox.env"
    fresh_sandbox.write_env_file(str(path))
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    assert dict(ln.split("=", 1) for ln in lines) == fresh_sandbox.settings_env()


def test_credentials_work_against_the_started_emulators(fresh_sandbox: Sandbox) -> None:
    env = fresh_sandbox.settings_env()
    ping = requests.get(
        env["CONNECTOR_MAILCHIMP_BASE_URL"] + "/ping",
        auth=("anystring", env["CONNECTOR_MAILCHIMP_API_KEY"]),
        timeout=5,
    )
    assert ping.json() == {"health_status": "Everything's Chimpy!"}
    products = requests.get(
        env["CONNECTOR_WOOCOMMERCE_URL"] + "/wp-json/wc/v3/products",
        auth=(env["CONNECTOR_WOOCOMMERCE_KEY"], env["CONNECTOR_WOOCOMMERCE_SECRET"]),
        timeout=5,
    )
    assert products.status_code == 200 and int(products.headers["X-WP-Total"]) > 0


def test_reset_empties_state_and_switches_faults_off(fresh_sandbox: Sandbox) -> None:
    env = fresh_sandbox.settings_env()
    auth = ("x", env["CONNECTOR_MAILCHIMP_API_KEY"])
    members = env["CONNECTOR_MAILCHIMP_BASE_URL"] + "/lists/sandbox-list/members"
    body = {"email_address": "reset@example.com", "status": "subscribed"}
    assert requests.post(members, json=body, auth=auth, timeout=5).status_code == 200
    fresh_sandbox.faults("mailchimp", error_rate=1.0, seed=1)
    assert requests.get(members, auth=auth, timeout=5).status_code >= 500
    fresh_sandbox.reset()
    listed = requests.get(members, auth=auth, timeout=5)
    assert listed.status_code == 200 and listed.json()["total_items"] == 0


def test_a_missing_emulator_is_skipped_not_fatal() -> None:
    with Sandbox(names=("mailchimp", "no_such_emulator")) as partial:
        assert set(partial.urls) == {"mailchimp"}
        assert "CONNECTOR_MAILCHIMP_API_KEY" in partial.settings_env()
        assert "CONNECTOR_WOOCOMMERCE_URL" not in partial.settings_env()


def test_fixed_ports_are_used() -> None:
    probe = Sandbox(names=("mailchimp",)).start()
    port = probe.ports["mailchimp"]
    probe.stop()
    with Sandbox(ports={"mailchimp": port}, names=("mailchimp",)) as fixed:
        assert fixed.urls["mailchimp"] == f"http://127.0.0.1:{port}"


def test_faults_reach_every_emulator_in_its_own_shape(fresh_sandbox: Sandbox) -> None:
    for name, url in fresh_sandbox.urls.items():
        fresh_sandbox.faults(name, error_rate=1.0, statuses=[500], seed=1)
        answer = requests.get(f"{url}/anything", timeout=5)
        assert answer.status_code == 500, name
        if name == "novaposhta":  # its front server answers an HTML error page
            assert answer.headers["Content-Type"].startswith("text/html")
        else:
            assert answer.json(), name
    if "bitrix24" in fresh_sandbox.urls:
        broken = requests.get(fresh_sandbox.bitrix24_webhook_url() + "profile", timeout=5)
        assert broken.json()["error"] == "INTERNAL_SERVER_ERROR"
    fresh_sandbox.reset()
    for url in fresh_sandbox.urls.values():
        assert requests.get(f"{url}/_sandbox/faults", timeout=5).json()["error_rate"] == 0
