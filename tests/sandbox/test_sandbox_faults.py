"""Faults appear at the configured rate, repeat with the same seed, and never touch the control
API.
"""

from __future__ import annotations

import time

import pytest
import requests
from flask import Flask

from connector_sandbox.faults import FaultInjector
from connector_sandbox.runner import ServedApp, serve


def plain_app() -> Flask:
    app = Flask("plain")

    @app.get("/thing")
    def thing() -> str:
        return "fine"

    FaultInjector(app)
    return app


def statuses(app: Flask, count: int) -> list[int]:
    client = app.test_client()
    return [client.get("/thing").status_code for _ in range(count)]


def test_errors_appear_at_the_configured_rate_and_repeat_with_the_seed() -> None:
    app = plain_app()
    client = app.test_client()
    setting = {"error_rate": 0.2, "statuses": [500, 502, 503], "seed": 1}
    assert client.put("/_sandbox/faults", json=setting).status_code == 200
    first = statuses(app, 1000)
    failed = [s for s in first if s != 200]
    assert 150 <= len(failed) <= 250
    assert set(failed) <= {500, 502, 503} and len(set(failed)) == 3

    client.put("/_sandbox/faults", json=setting)
    assert statuses(app, 1000) == first

    counters = client.get("/_sandbox/faults").get_json()["counters"]
    assert counters["requests"] == 1000
    assert counters["errors"] == len(failed)
    assert sum(counters["by_status"].values()) == len(failed)


def test_a_different_seed_gives_a_different_sequence() -> None:
    app = plain_app()
    client = app.test_client()
    client.put("/_sandbox/faults", json={"error_rate": 0.2, "seed": 1})
    first = statuses(app, 200)
    client.put("/_sandbox/faults", json={"error_rate": 0.2, "seed": 2})
    assert statuses(app, 200) != first


def test_control_api_is_never_faulted_and_reset_clears_faults() -> None:
    app = plain_app()

    @app.post("/_sandbox/reset")
    def reset() -> str:
        return "reset"

    client = app.test_client()
    client.put("/_sandbox/faults", json={"error_rate": 1.0, "seed": 3})
    assert client.get("/thing").status_code >= 500
    assert client.get("/_sandbox/faults").status_code == 200
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/thing").status_code == 200
    assert client.get("/_sandbox/faults").get_json()["error_rate"] == 0


def test_limit_and_path_prefix_narrow_the_faults() -> None:
    app = plain_app()
    client = app.test_client()
    client.put("/_sandbox/faults", json={"error_rate": 1.0, "limit": 2, "seed": 1})
    codes = statuses(app, 4)
    assert [c >= 500 for c in codes] == [True, True, False, False]
    client.put("/_sandbox/faults", json={"error_rate": 1.0, "path_prefix": "/other"})
    assert statuses(app, 3) == [200, 200, 200]


@pytest.mark.parametrize(
    "setting",
    [{"error_rate": 1.5}, {"error_rate": 0.6, "drop_rate": 0.6}, {"nonsense": 1}, {"statuses": []}],
)
def test_bad_settings_are_refused(setting: dict) -> None:
    client = plain_app().test_client()
    assert client.put("/_sandbox/faults", json=setting).status_code == 400


def test_latency_delays_each_request() -> None:
    app = plain_app()
    client = app.test_client()
    client.put("/_sandbox/faults", json={"latency_ms": 50})
    started = time.monotonic()
    assert client.get("/thing").status_code == 200
    assert time.monotonic() - started >= 0.05


def served(app: Flask) -> ServedApp:
    return serve(app)


def test_drop_closes_the_connection_without_an_answer() -> None:
    app = plain_app()
    server = served(app)
    try:
        app.test_client().put("/_sandbox/faults", json={"drop_rate": 1.0, "seed": 1})
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/thing", timeout=5)
        assert (
            requests.get(server.url + "/_sandbox/faults", timeout=5).json()["counters"]["drops"]
            == 1
        )
    finally:
        server.stop()


def test_timeout_sleeps_past_the_clients_patience() -> None:
    app = plain_app()
    server = served(app)
    try:
        setting = {"timeout_rate": 1.0, "timeout_seconds": 0.5, "seed": 1}
        app.test_client().put("/_sandbox/faults", json=setting)
        with pytest.raises(requests.Timeout):
            requests.get(server.url + "/thing", timeout=0.1)
    finally:
        server.stop()


def test_every_kind_of_fault_keeps_its_share() -> None:
    app = plain_app()
    client = app.test_client()
    setting = {"error_rate": 0.1, "timeout_rate": 0.1, "timeout_seconds": 0, "drop_rate": 0.1}
    client.put("/_sandbox/faults", json=setting | {"seed": 7})
    for _ in range(1000):
        client.get("/thing")
    counters = client.get("/_sandbox/faults").get_json()["counters"]
    for kind in ("errors", "timeouts", "drops"):
        assert 50 <= counters[kind] <= 150, (kind, counters)
    assert (
        counters["passed"] == 1000 - counters["errors"] - counters["drops"] - counters["timeouts"]
    )


def test_every_emulator_answers_faults_in_its_own_error_shape() -> None:
    from connector_sandbox.cdek import create_app as cdek
    from connector_sandbox.mailchimp import create_app as mailchimp
    from connector_sandbox.woocommerce import create_app as woocommerce

    shapes = {
        "/3.0/ping": (mailchimp, "title"),
        "/wp-json/wc/v3/orders": (woocommerce, "code"),
        "/v2/orders/x": (cdek, "errors"),
    }
    for path, (factory, key) in shapes.items():
        client = factory().test_client()
        client.put("/_sandbox/faults", json={"error_rate": 1.0, "statuses": [503], "seed": 1})
        answer = client.get(path)
        assert answer.status_code == 503 and key in answer.get_json(), path
