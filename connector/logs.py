"""Logging set-up: one line per event, text or JSON, with secrets, phones and emails masked."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable

# Emails: any letters (`\w` is Unicode), a one-letter top-level domain (`a@b.c`), JSON's `\uXXXX`
# escapes, and `%40` for the `@` of a URL's query. A match starts only where a local part can
# start, so a long run of word characters is scanned once, not once per position.
_ESCAPE = r"\\u[0-9A-Fa-f]{4}"
_LOCAL = rf"(?:[\w.%+-]|{_ESCAPE})"
_LABEL = rf"(?:[\w-]|{_ESCAPE})+"
_TLD = rf"(?:[^\W\d_]|{_ESCAPE})(?:[\w-]|{_ESCAPE})*"
EMAIL = re.compile(rf"(?<![\w.%+-])({_LOCAL}){_LOCAL}*(@|%40)((?:{_LABEL}\.)+{_TLD})")
PHONE = re.compile(r"(?<![\w/])(\+?\d)[\d\s().-]{6,}(\d{2})(?![\w/])")


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """Hides secrets entirely and keeps only the edges of emails and phone numbers."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = EMAIL.sub(r"\1***\2\3", text)
    return PHONE.sub(r"\1***\2", text)


class MaskingFilter(logging.Filter):
    """Rewrites every record's message once, before any handler formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage(), self.secrets)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info).splitlines()[-1])
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Installs one stderr handler on the root logger; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_connector", False):
            root.removeHandler(old)
    handler._connector = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("waitress.queue", "apscheduler", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
