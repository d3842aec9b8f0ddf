"""Fixtures for the Bitrix24 emulator: a portal on a fake clock, called the way a client does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector_sandbox.bitrix24 import Bitrix24Config, create_app
from tests.support import SPECS as ALL_SPECS

SPECS = ALL_SPECS / "bitrix24"

WEBHOOK = "/rest/1/sandboxtoken/"


class FakeClock:
    """A clock the test moves by hand, so limits and token expiry are exact."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spec(relative: str) -> Any:
    """An official example payload (specs/bitrix24/ in the repo)."""
    path = SPECS / relative
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


class Portal:
    """Calls the emulator the way the connector would: through the webhook URL or with OAuth."""

    def __init__(self, client: FlaskClient, app: Flask) -> None:
        self.client = client
        self.app = app

    def call(self, method: str, params: dict[str, Any] | None = None, status: int = 200) -> Any:
        # json.dumps keeps the key order (Flask's test client would sort it; batch order matters)
        response = self.client.post(
            f"{WEBHOOK}{method}.json",
            data=json.dumps(params or {}),
            content_type="application/json",
        )
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.call(method, params)["result"]

    def oauth(self, method: str, params: dict[str, Any] | None = None, token: str | None = None):
        token = token or self.app.extensions["bitrix24"].state.current_access_token
        body = json.dumps({**(params or {}), "auth": token})
        return self.client.post(f"/rest/{method}", data=body, content_type="application/json")

    def control(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.open(f"/_sandbox/{path}", method=verb, json=body)
        assert response.status_code < 300, response.get_data(as_text=True)
        return response.get_json()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def b24_config(clock: FakeClock) -> Bitrix24Config:
    return Bitrix24Config(clock=clock)


@pytest.fixture
def b24_app(b24_config: Bitrix24Config) -> Flask:
    return create_app(b24_config)


@pytest.fixture
def portal(b24_app: Flask) -> Portal:
    return Portal(b24_app.test_client(), b24_app)
