"""Helpers for the sandbox tests: emulator apps with test clients that authenticate like the
connector.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector_sandbox import runner
from tests.support import SPECS


def spec_json(relative: str) -> Any:
    return json.loads((SPECS / relative).read_text(encoding="utf-8"))


def spec_text(relative: str) -> str:
    return (SPECS / relative).read_text(encoding="utf-8")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


MC_AUTH = basic("connector", runner.MAILCHIMP_API_KEY)
WC_AUTH = basic(runner.WOOCOMMERCE_KEY, runner.WOOCOMMERCE_SECRET)


@pytest.fixture
def mailchimp_app() -> Flask:
    from connector_sandbox.mailchimp import create_app

    return create_app({"batch_delay": 0.01})


@pytest.fixture
def mc(mailchimp_app: Flask) -> FlaskClient:
    return mailchimp_app.test_client()


@pytest.fixture
def woo_app() -> Flask:
    from connector_sandbox.woocommerce import create_app

    return create_app({"seed": "docs"})


@pytest.fixture
def wc(woo_app: Flask) -> FlaskClient:
    return woo_app.test_client()
