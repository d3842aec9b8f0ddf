"""Request parameters as Bitrix24 reads them: query string, PHP-style bracket forms and JSON bodies.

A form key like ``fields[PHONE][0][VALUE]`` becomes nested dicts, ``select[]`` appends, exactly as
PHP's ``parse_str`` builds arrays
(https://apidocs.bitrix24.com/settings/how-to-call-rest-api/data-encoding.html). Arrays stay dicts
with string keys ("0", "1", ...); ``as_list`` reads them as lists where a list is meant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Request

_KEY = re.compile(r"^([^\[]*)((?:\[[^\]]*\])*)")


def split_key(key: str) -> list[str]:
    """``fields[PHONE][0][VALUE]`` -> ``["fields", "PHONE", "0", "VALUE"]``; ``a[]`` -> ``["a",
    ""]``.
    """
    match = _KEY.match(key)
    if not match or not match.group(1):
        return [key]
    parts = [match.group(1)]
    parts += re.findall(r"\[([^\]]*)\]", match.group(2))
    return parts


def _next_index(node: dict[str, Any]) -> str:
    numbers = [int(k) for k in node if re.fullmatch(r"-?\d+", k)]
    return str(max(numbers) + 1 if numbers else 0)


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested parameters PHP would see for these form pairs."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = split_key(key)
        node = root
        for depth, part in enumerate(path):
            name = _next_index(node) if part == "" else part
            if depth == len(path) - 1:
                node[name] = value
                break
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
    return root


def decode_query(query: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(query, keep_blank_values=True))


def request_params(request: Request) -> dict[str, Any]:
    """Query string first, then the body (JSON object or form) on top, as PHP merges $_REQUEST."""
    params = decode_query(request.query_string.decode("latin-1"))
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            params.update(body)
    elif request.form:
        params.update(decode_pairs(request.form.items(multi=True)))
    else:
        raw = request.get_data(as_text=True)
        if raw.strip().startswith("{"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
    return params


def pick(params: Any, *names: str, default: Any = None) -> Any:
    """A parameter by any of its names, case-insensitively (``FIELDS`` and ``fields`` both work)."""
    if not isinstance(params, dict):
        return default
    for name in names:
        if name in params:
            return params[name]
    lowered = {str(k).lower(): v for k, v in params.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return default


def as_list(value: Any) -> list[Any]:
    """A PHP array read as a list: JSON lists, bracket dicts ("0", "1", ...) and lone scalars."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "y", "yes", "true", "on"}


def as_int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
