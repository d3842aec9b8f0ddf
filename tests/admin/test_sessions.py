"""Sessions end after idle time and after their longest life; a proxy's HTTPS makes the cookie
Secure; /metrics can ask for a bearer token."""

from __future__ import annotations

from pathlib import Path

from connector.admin.auth import Accounts
from connector.app import create_app
from connector.config import load_settings
from connector.services import Services
from tests.admin.conftest import FAST_HASHER, ConsoleApp, csrf, own_env


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_and_at_its_longest_life(console_app: ConsoleApp) -> None:
    clock = Clock()
    accounts = Accounts(
        console_app.services.engine, clock, idle_seconds=600, max_seconds=1800, hasher=FAST_HASHER
    )
    account = accounts.get("viewer")
    assert account is not None
    idle = accounts.start(account, "127.0.0.1")
    clock.now += 601
    assert accounts.find(idle) is None

    busy = accounts.start(account, "127.0.0.1")
    for _ in range(5):  # used every 5 minutes: alive until its 30 minutes are up
        clock.now += 300
        assert accounts.find(busy) is not None
    clock.now += 301
    assert accounts.find(busy) is None


def test_behind_an_https_proxy_the_cookie_is_secure(tmp_path: Path) -> None:
    env = own_env(tmp_path) | {"CONNECTOR_HTTP_PROXY_HOPS": "1"}
    services = Services(load_settings(env=env, env_file=None))
    app = create_app(services)
    app.extensions["connector_admin"]["accounts"].hasher = FAST_HASHER
    Accounts(services.engine, services.queue.clock, hasher=FAST_HASHER).add(
        "ops", "viewer", "long enough"
    )
    client = app.test_client()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = client.get("/admin/sign-in", headers=proxied)
    answer = client.post(
        "/admin/sign-in",
        data={"name": "ops", "password": "long enough", "csrf_token": csrf(page.text)},
        headers=proxied,
    )
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("connector_admin=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_metrics_ask_for_the_bearer_token_when_one_is_set(tmp_path: Path) -> None:
    env = own_env(tmp_path) | {"CONNECTOR_METRICS_TOKEN": "scrape-me-please"}
    client = create_app(Services(load_settings(env=env, env_file=None))).test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert right.status_code == 200 and b"# HELP" in right.data
