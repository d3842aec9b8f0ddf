"""List reading as Bitrix24 does it: filter prefixes, order, 50-row pages with ``next``/``total``.

https://apidocs.bitrix24.com/settings/how-to-call-rest-api/list-methods-pecularities.html and
https://apidocs.bitrix24.com/settings/performance/huge-data.html (``start=-1`` skips the count).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import timefmt
from .errors import invalid_arg
from .params import as_int, as_list

PAGE_SIZE = 50
# longest first, so ">=" is not read as ">" followed by "=FIELD"
_OPERATORS = ("!=%", "!%=", "=%", "%=", "!%", ">=", "<=", "!=", "!@", "@", ">", "<", "=", "!", "%")

# resolves a filter/order field name to (getter, kind) or None when the field is unknown
Resolver = Callable[[str], tuple[Callable[[Any], Any], str] | None]


@dataclass
class Page:
    """A list answer: ``result`` plus ``total``/``next`` at the top level of the response."""

    result: Any
    total: int | None = None
    next: int | None = None


def split_operator(key: str) -> tuple[str, str]:
    for op in _OPERATORS:
        if key.startswith(op):
            return op, key[len(op) :]
    return "=", key


def _norm(kind: str, value: Any, offset: int) -> Any:
    if value is None or value == "":
        return None
    if kind in {"id", "int"}:
        return as_int(value)
    if kind in {"money", "double"}:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "datetime":
        return timefmt.parse_moment(value, offset)
    if kind == "date":
        return timefmt.parse_day(value, offset)
    if isinstance(value, bool):
        return "y" if value else "n"
    return str(value).casefold()


def _like(pattern: str, text: str) -> bool:
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("%")) + "$"
    return re.match(regex, text, re.DOTALL) is not None


def _match_one(op: str, kind: str, actual: Any, wanted: Any, offset: int) -> bool:
    values = actual if kind == "multi" else [actual]
    values = [_norm("string" if kind == "multi" else kind, v, offset) for v in values] or [None]
    wanted_list = [_norm("string" if kind == "multi" else kind, w, offset) for w in as_list(wanted)]
    if op in {"@", "!@"} or (op in {"=", "!=", "!"} and isinstance(wanted, list | dict)):
        hit = any(v in wanted_list for v in values)
        return not hit if op in {"!@", "!=", "!"} else hit
    target = _norm("string" if kind == "multi" else kind, wanted, offset)
    if op == "=":
        return any(v == target for v in values)
    if op in {"!=", "!"}:
        return all(v != target for v in values)
    if op in {"%", "!%"}:
        hit = target is not None and any(v is not None and str(target) in str(v) for v in values)
        return not hit if op == "!%" else hit
    if op in {"=%", "%=", "!=%", "!%="}:
        hit = target is not None and any(
            v is not None and _like(str(target), str(v)) for v in values
        )
        return not hit if op.startswith("!") else hit
    comparable = [v for v in values if v is not None]
    if target is None or not comparable:
        return False
    try:
        if op == ">":
            return any(v > target for v in comparable)
        if op == ">=":
            return any(v >= target for v in comparable)
        if op == "<":
            return any(v < target for v in comparable)
        if op == "<=":
            return any(v <= target for v in comparable)
    except TypeError:
        return False
    return False


def compile_filter(
    filter_: Any, resolve: Resolver, offset: int, strict: bool
) -> Callable[[Any], bool]:
    """A predicate for one record; ``logic: OR`` groups nest; unknown fields fail if ``strict``."""
    if not isinstance(filter_, dict) or not filter_:
        return lambda _record: True
    logic = str(filter_.get("logic", filter_.get("LOGIC", "AND"))).upper()
    tests: list[Callable[[Any], bool]] = []
    for key, wanted in filter_.items():
        if str(key).lower() == "logic":
            continue
        if isinstance(wanted, dict) and (
            str(key).isdigit() or "logic" in {k.lower() for k in wanted}
        ):
            tests.append(compile_filter(wanted, resolve, offset, strict))
            continue
        op, name = split_operator(str(key))
        resolved = resolve(name)
        if resolved is None:
            if strict:
                raise invalid_arg(f"Invalid filter: field '{name}' is not allowed in filter")
            continue
        getter, kind = resolved

        def test(record: Any, getter=getter, kind=kind, op=op, wanted=wanted) -> bool:
            return _match_one(op, kind, getter(record), wanted, offset)

        tests.append(test)
    if logic == "OR":
        return lambda record: any(t(record) for t in tests) if tests else True
    return lambda record: all(t(record) for t in tests)


def sort_records(records: list[Any], order: Any, resolve: Resolver, default: str) -> list[Any]:
    """Stable multi-key sort; without ``order`` rows come by ID ascending (stable paging)."""
    keys = list(order.items()) if isinstance(order, dict) and order else [(default, "ASC")]
    result = list(records)
    for name, direction in reversed(keys):
        resolved = resolve(str(name))
        if resolved is None:
            continue
        getter, kind = resolved
        descending = str(direction).upper() == "DESC"

        def sort_key(record: Any, getter=getter, kind=kind) -> tuple[int, Any]:
            value = _norm(kind if kind != "multi" else "string", getter(record), 0)
            if isinstance(value, list):
                value = value[0] if value else None
            return (0, value) if value is not None else (-1, 0)

        try:
            result.sort(key=sort_key, reverse=descending)
        except TypeError:
            result.sort(key=lambda r, sk=sort_key: str(sk(r)), reverse=descending)
    return result


def paginate(rows: list[Any], start: Any) -> tuple[list[Any], int | None, int | None]:
    """One page of 50 plus (total, next); ``start=-1`` answers total 0 and no ``next``."""
    offset = as_int(start, 0) or 0
    if offset == -1:
        return rows[:PAGE_SIZE], 0, None
    offset = max(offset, 0)
    page = rows[offset : offset + PAGE_SIZE]
    following = offset + PAGE_SIZE
    return page, len(rows), following if following < len(rows) else None
