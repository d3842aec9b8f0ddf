"""php-cli for the WordPress plugin's tests: where the plugin is, and its signer run as a tool."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

WORDPRESS = Path(__file__).parents[2] / "integrations" / "wordpress"
PLUGIN = WORDPRESS / "omnichannel-connector"
SIGN = WORDPRESS / "tests" / "sign.php"


def php_binary() -> str | None:
    return shutil.which("php")


def php_files() -> list[Path]:
    """Every PHP file of the plugin and its test tool."""
    return sorted(WORDPRESS.rglob("*.php"))


def run_php(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [php_binary() or "php", *args], input=stdin, capture_output=True, text=True, timeout=30
    )


def sign(
    secret: str,
    request: dict[str, Any],
    *,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """What `integrations/wordpress/tests/sign.php` prints for `request`: the headers and body
    the plugin sends (and a cart-restore token when asked)."""
    args = [str(SIGN), secret]
    if message_id is not None or timestamp is not None:
        stamp = timestamp if timestamp is not None else int(time.time())
        args += [message_id or "msg_test", str(stamp)]
    result = run_php(*args, stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    signed: dict[str, Any] = json.loads(result.stdout)
    return signed
