"""PHP-style form bodies (`data[merges][FNAME]=Ann`), as Bitrix24 and Mailchimp webhooks send them.

Both systems build their POST bodies with PHP's `http_build_query`, so nested keys travel as
brackets and every value arrives as a string (research/bitrix24.md 6.2, research/mailchimp.md 8).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from connector.safe_input import MAX_DEPTH, BadBody

_KEY = re.compile(r"\[([^\]]*)\]")


def parse_php_form(body: bytes | str, limit: int = MAX_DEPTH) -> dict[str, Any]:
    """Nested dicts from bracket keys: `a[b]=x&a[c][]=y` -> `{"a": {"b": "x", "c": {"0": "y"}}}`.

    A key nested deeper than `limit` levels is a `BadBody`, as PHP refuses it
    (`max_input_nesting_level`): the dicts travel on in task payloads and mapping rules.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text.strip(), keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_KEY.findall(key[len(head) :])]
        if len(path) > limit:
            raise BadBody(f"{head}: nested deeper than {limit} levels")
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    return root
