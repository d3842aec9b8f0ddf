"""Reading what strangers send: request bodies and the ids inside them, bounded before use.

Every route that decodes a request body goes through `load_json` (or, for PHP-style forms,
`connector.systems.forms.parse_php_form`, which keeps the same nesting limit). A body nested
deeper than `MAX_DEPTH` levels is refused, so no recursion can blow up in a parser, in a flow
or in `json.dumps` when its task is stored; PHP refuses the same (`max_input_nesting_level`,
64). Each refusal is a `BadBody` whose message names the field, as the 400 answer does.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
MAX_ID = 2**63 - 1  # a BIGINT: the largest id any system we talk to hands out
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadBody(ValueError):
    """A body (or a field of it) that cannot be used; the message starts with the field."""


def load_json(raw: bytes | str, limit: int = MAX_DEPTH) -> Any:
    """The decoded JSON body; `BadBody` ("body: ...") when it is not UTF-8, not strict JSON
    (NaN and Infinity are not JSON) or nested deeper than `limit` levels.

    A body with fewer brackets than `limit` cannot be too deep (two `str.count` calls); any
    other is decoded (the decoder stops at Python's recursion limit, long before the stack
    runs out) and then measured level by level, which costs a third of the decoding.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("body: not UTF-8 text") from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise BadBody(f"body: nested deeper than {limit} levels") from None
    except ValueError:
        raise BadBody("body: not valid JSON") from None
    if text.count("[") + text.count("{") > limit and nested_deeper(value, limit):
        raise BadBody(f"body: nested deeper than {limit} levels")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise BadBody("body: a \\u escape names half a character (a lone surrogate)")
    return value


def _encodable(value: Any) -> bool:
    """False when a decoded string holds a lone surrogate (`"\\ud800"`), which no store,
    log or API can take as UTF-8; a pair (an escaped emoji) is one character and fine."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nested_deeper(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` holds lists or dicts more than `limit` levels inside each other
    (walked level by level, without recursion)."""
    level, depth = [value] if type(value) is dict or type(value) is list else [], 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def positive_int(value: Any) -> int | None:
    """`value` as an id of the kind CRMs and shops use (1 to 2**63-1), from an int or a text of
    ASCII digits; None for anything else (`[1]`, "1.5", "²", an emoji, True)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (0 < len(value) <= 19 and value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def unix_seconds(value: Any) -> bool:
    """True for a unix time in seconds (int or ASCII digits) up to the year 9999."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value):
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253402300800
