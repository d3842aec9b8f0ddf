"""The console's languages: English and Russian. `t("key")` is a Jinja global.

Texts live in `connector/admin/texts/<lang>.py` (one `TEXTS` dict each) for the shared frame and
H4's pages; a page module may bring its own as `TEXTS = {"en": {...}, "ru": {...}}`, merged
when the blueprint is built, so pages of different authors never edit one file. A key missing in
a language falls back to English, then to the key itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app, g, request

LANGUAGES = ("en", "ru")
DEFAULT = "en"
COOKIE = "connector_admin_lang"


def base_texts() -> dict[str, dict[str, str]]:
    texts: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        module = importlib.import_module(f"connector.admin.texts.{lang}")
        texts[lang] = dict(module.TEXTS)
    return texts


def merge(texts: dict[str, dict[str, str]], extra: Mapping[str, Mapping[str, str]]) -> None:
    for lang, entries in extra.items():
        texts.setdefault(lang, {}).update(entries)


def language() -> str:
    """The cookie's language, else the browser's first known one, else English."""
    found = getattr(g, "admin_lang", None)
    if found:
        return str(found)
    chosen = request.cookies.get(COOKIE)
    if chosen not in LANGUAGES:
        best = request.accept_languages.best_match(LANGUAGES)
        chosen = best or DEFAULT
    g.admin_lang = chosen
    return chosen


def t(key: str, **values: Any) -> str:
    """The text of `key` in the request's language, `{name}` placeholders filled."""
    texts: dict[str, dict[str, str]] = current_app.extensions["connector_admin"]["texts"]
    text = texts.get(language(), {}).get(key) or texts[DEFAULT].get(key) or key
    return text.format(**values) if values else text


def missing(texts: Mapping[str, Mapping[str, str]], keys: Iterable[str]) -> dict[str, list[str]]:
    """Keys without a text, per language (a test keeps both languages complete)."""
    return {lang: sorted(k for k in keys if k not in texts.get(lang, {})) for lang in LANGUAGES}
