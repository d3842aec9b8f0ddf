"""The plugin tests need php-cli (Debian's `php-cli`). Here a missing php skips them, saying how
to install it; in CI (`CI` set, or E2E_REQUIRED=1 as `.ci/run` sets) it fails them instead."""

from __future__ import annotations

import os

import pytest

from tests.integrations.php import php_binary

INSTALL = "apt-get install -y php-cli"


@pytest.fixture(scope="session")
def php() -> str:
    found = php_binary()
    if found:
        return found
    reason = f"php-cli is not installed (install: {INSTALL})"
    if os.environ.get("CI") or os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"{reason}; in CI the plugin's tests must run")
    pytest.skip(reason)
