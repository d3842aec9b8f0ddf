"""Fixtures of the admin console's tests.

- `browser`: Debian's Chromium driven by Playwright, one per test session. Skipped with the
  install command when no browser is found, a failure instead when E2E_REQUIRED=1 (`.ci/run`).
- `console`: the app (with the console) served on a free port, pointed at the fresh sandbox
  emulators, one account per role; `console.page("operator")` is a browser page signed in as
  that role; `console.shot(page, "name")` saves var/screenshots/name.png.
- `console_app`: the same app without a server or browser, for fast checks through Flask's test
  client: `console_app.client("viewer")` is a client signed in as that role.

Accounts: `viewer`, `operator` and `admin` (named after their role), password `PASSWORD`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from connector.admin import accounts_for
from connector.admin.auth import ROLES, Accounts
from connector.app import create_app
from connector.config import BUNDLED_MAPPINGS, Settings, load_settings
from connector.services import Services

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
INSTALL = (
    "apt-get install -y --no-install-recommends chromium fonts-dejavu-core && "
    ".venv/bin/pip install playwright"
)
# Cheap hashes for the test accounts (the console verifies any argon2 parameters it finds).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def chromium_path() -> str | None:
    """CHROMIUM_PATH, then Debian's binaries, then `chromium` on PATH."""
    candidates = [
        os.environ.get("CHROMIUM_PATH"),
        "/usr/lib/chromium/chromium",
        "/usr/lib/chromium/chromium-headless-shell",
        shutil.which("chromium"),
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


def _missing(reason: str) -> None:
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"{reason} (E2E_REQUIRED=1); install: {INSTALL}")
    pytest.skip(f"{reason}; install: {INSTALL}")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the console's tests (playwright's sync API).

    Package scope, not session: while the sync API is open, its asyncio event loop runs in the
    main thread, so any later test of the session that calls `asyncio.run` (tests/core's
    slow-client tests of `WholeRequestWSGI`) would fail with "cannot be called from a running
    event loop". Playwright is closed once tests/admin is done."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    path = chromium_path()
    if path is None:
        _missing("no Chromium found")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def add_accounts(accounts: Accounts) -> None:
    fast = Accounts(accounts.engine, accounts.clock, hasher=FAST_HASHER)
    for role in ROLES:
        fast.add(role, role, PASSWORD)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    """Signs a test client in through the form, as a browser would."""
    page = client.get("/admin/sign-in")
    return client.post(
        "/admin/sign-in", data={"name": name, "password": password, "csrf_token": csrf(page.text)}
    )


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class ConsoleApp:
    services: Services
    app: Flask
    accounts: Accounts
    clients: dict[str, FlaskClient] = field(default_factory=dict)

    def client(self, role: str | None = None) -> FlaskClient:
        """A test client, signed in as the account named `role` (None: a stranger)."""
        if role is None:
            return self.app.test_client()
        if role not in self.clients:
            client = self.app.test_client()
            answer = sign_in(client, role)
            assert answer.status_code == 303, answer.text
            self.clients[role] = client
        return self.clients[role]


def build(settings: Settings) -> ConsoleApp:
    services = Services(settings)
    app = create_app(services)
    app.extensions["connector_admin"]["accounts"].hasher = FAST_HASHER  # cheap sign-ins
    accounts = accounts_for(services)
    add_accounts(accounts)
    return ConsoleApp(services, app, accounts)


def own_env(tmp_path: Path) -> dict[str, str]:
    """A store in `tmp_path` and a copy of the bundled mappings there: an editor's save in a
    test never touches the repository's files."""
    mappings = tmp_path / "mappings"
    if not mappings.exists():
        shutil.copytree(BUNDLED_MAPPINGS, mappings)
    return {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_MAPPINGS_DIR": str(mappings),
    }


@pytest.fixture
def console_app(tmp_path: Path) -> ConsoleApp:
    return build(load_settings(env=own_env(tmp_path), env_file=None))


@dataclass
class Console(ConsoleApp):
    url: str = ""
    browser: Any = None
    sandbox: Any = None
    contexts: dict[str, Any] = field(default_factory=dict)

    def page(self, role: str | None = None) -> Any:
        """A browser page (its own cookies) signed in as `role`; None: not signed in."""
        context = self.browser.new_context(base_url=self.url, locale="en-US")
        context.set_default_timeout(10_000)
        self.contexts[f"{role}-{len(self.contexts)}"] = context
        page = context.new_page()
        if role is not None:
            page.goto("/admin/sign-in")
            page.fill("input[name=name]", role)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit] >> text=Sign in")
            page.wait_for_url("**/admin/overview/**")
        return page

    def shot(self, page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture
def console(browser: Any, fresh_sandbox: Any, tmp_path: Path) -> Iterator[Console]:
    from tests.admin.live import served

    env = own_env(tmp_path)
    env.update(fresh_sandbox.settings_env())
    with served(build(load_settings(env=env, env_file=None)), browser, fresh_sandbox) as running:
        yield running
