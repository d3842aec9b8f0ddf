"""Field paths in payloads (`billing.phone`, `line_items[].sku`, `PHONE[VALUE_TYPE=WORK].VALUE`).

A path is parsed once, when a mapping file loads, into a getter and a setter closure, so applying a
mapping to a record never parses text again. Steps:

- `name`: a key of a dict;
- `name[N]`: element N of a list (`images[0].src`);
- `name[KEY=VALUE]`: the first element of a list whose KEY equals VALUE, as in Bitrix24 multifields
  (`PHONE[VALUE_TYPE=WORK].VALUE`) and WooCommerce `meta_data[key=...].value`; writing creates the
  element when missing and, when the system's current record is given, starts from its matching
  element so that an `ID` is carried and Bitrix24 updates the value instead of adding a second one
  (research/bitrix24.md, "Always send multifield IDs on update");
- `name[]`: every element of a list; one per path. When both sides of a field have `[]`, lines are
  mapped element by element.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING: Any = type(
    "Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda s: False}
)()
"""The path is absent from the record (unlike a present `null`)."""

Getter = Callable[[Any], Any]
Setter = Callable[[dict, Any, Any], None]

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[[^\]]*\])*)")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_NAME = re.compile(r"^[A-Za-z0-9_\-@$:]+$")


class PathError(ValueError):
    """A path in a mapping file cannot be parsed."""


@dataclass(frozen=True)
class Step:
    """One step of a path: `key`, `index`, `select` or `each`."""

    kind: str
    key: str = ""
    index: int = 0
    value: str = ""


@dataclass(frozen=True)
class Path:
    """A parsed path; `prefix` and `rest` split it at `[]` when it has one."""

    text: str
    steps: tuple[Step, ...]

    @property
    def each_at(self) -> int | None:
        for i, step in enumerate(self.steps):
            if step.kind == "each":
                return i
        return None

    @property
    def prefix(self) -> tuple[Step, ...]:
        at = self.each_at
        return self.steps if at is None else self.steps[:at]

    @property
    def rest(self) -> tuple[Step, ...]:
        at = self.each_at
        return () if at is None else self.steps[at + 1 :]

    @property
    def root(self) -> str:
        return self.steps[0].key

    @property
    def keys(self) -> list[str]:
        """The dict keys along the path, e.g. ['lines', 'sku'] for `lines[].sku`."""
        return [s.key for s in self.steps if s.kind == "key"]


def parse(text: str) -> Path:
    """Parses a path; raises PathError with a reason an admin can act on."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("empty path")
    steps: list[Step] = []
    for part in _split_dots(text):
        match = _SEGMENT.fullmatch(part)
        if not match or not _NAME.match(match.group(1)):
            raise PathError(f"bad path segment {part!r} in {text!r}")
        steps.append(Step("key", key=match.group(1)))
        for inner in _BRACKET.findall(match.group(2)):
            steps.append(_bracket_step(inner, text))
    if sum(1 for s in steps if s.kind == "each") > 1:
        raise PathError(f"only one '[]' per path is supported: {text!r}")
    return Path(text, tuple(steps))


def _split_dots(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _bracket_step(inner: str, text: str) -> Step:
    inner = inner.strip()
    if inner == "":
        return Step("each")
    if inner.isdigit():
        return Step("index", index=int(inner))
    if "=" in inner:
        key, _, value = inner.partition("=")
        if key.strip():
            return Step("select", key=key.strip(), value=value.strip())
    raise PathError(f"bad selector [{inner}] in {text!r}: use [], [N] or [KEY=VALUE]")


# --- reading -------------------------------------------------------------------------------------


def getter(steps: tuple[Step, ...]) -> Getter:
    """Returns a function record -> value (or MISSING) for steps without `[]`."""
    if not steps:
        return lambda node: node
    if all(s.kind == "key" for s in steps):
        keys = [s.key for s in steps]
        if len(keys) == 1:
            (k,) = keys
            return lambda node: node.get(k, MISSING) if isinstance(node, dict) else MISSING
        if len(keys) == 2:
            k1, k2 = keys

            def get2(node: Any) -> Any:
                inner = node.get(k1, MISSING) if isinstance(node, dict) else MISSING
                if inner is None:
                    return None
                return inner.get(k2, MISSING) if isinstance(inner, dict) else MISSING

            return get2
    return lambda node: _walk(node, steps)


def _walk(node: Any, steps: tuple[Step, ...]) -> Any:
    for step in steps:
        if node is None:
            return None
        if step.kind == "key":
            if not isinstance(node, dict):
                return MISSING
            node = node.get(step.key, MISSING)
        elif step.kind == "index":
            if not isinstance(node, list) or step.index >= len(node):
                return MISSING
            node = node[step.index]
        else:  # select
            node = _find(node, step)
        if node is MISSING:
            return MISSING
    return node


def _find(node: Any, step: Step) -> Any:
    if not isinstance(node, list):
        return MISSING
    for item in node:
        if isinstance(item, dict) and str(item.get(step.key)) == step.value:
            return item
    return MISSING


def path_getter(path: Path) -> Getter:
    """Returns a function record -> value; a `[]` path yields the list of element values."""
    if path.each_at is None:
        return getter(path.steps)
    get_list = getter(path.prefix)
    get_item = getter(path.rest)

    def get_each(node: Any) -> Any:
        items = get_list(node)
        if items is MISSING or items is None:
            return items
        if not isinstance(items, list):
            return MISSING
        return [None if (v := get_item(item)) is MISSING else v for item in items]

    return get_each


# --- writing -------------------------------------------------------------------------------------


def setter(steps: tuple[Step, ...]) -> Setter:
    """Returns a writer (target, value, existing) for steps, creating containers on the way."""
    if len(steps) == 1 and steps[0].kind == "key":
        k = steps[0].key

        def set1(target: dict, value: Any, existing: Any = None) -> None:
            target[k] = value

        return set1
    if len(steps) == 2 and steps[0].kind == steps[1].kind == "key":
        k1, k2 = steps[0].key, steps[1].key

        def set2(target: dict, value: Any, existing: Any = None) -> None:
            inner = target.get(k1)
            if not isinstance(inner, dict):
                inner = target[k1] = {}
            inner[k2] = value

        return set2

    def set_any(target: dict, value: Any, existing: Any = None) -> None:
        _put(target, steps, value, existing)

    return set_any


def _put(node: Any, steps: tuple[Step, ...], value: Any, existing: Any) -> None:
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if step.kind == "key":
            existing = existing.get(step.key) if isinstance(existing, dict) else None
            if last:
                node[step.key] = value
                return
            child = node.get(step.key)
            want_list = steps[i + 1].kind in ("index", "select")
            if want_list and not isinstance(child, list):
                child = node[step.key] = []
            elif not want_list and not isinstance(child, dict):
                child = node[step.key] = {}
            node = child
        elif step.kind == "index":
            while len(node) <= step.index:
                node.append({})
            existing = (
                existing[step.index]
                if isinstance(existing, list) and step.index < len(existing)
                else None
            )
            if last:
                node[step.index] = value
                return
            if not isinstance(node[step.index], dict):
                node[step.index] = {}
            node = node[step.index]
        else:  # select
            found = _find(node, step)
            old = _find(existing, step) if existing is not None else MISSING
            if found is MISSING:
                found = dict(old) if isinstance(old, dict) else {}
                found[step.key] = step.value
                node.append(found)
            existing = old if old is not MISSING else None
            if last:
                raise PathError("a selector cannot be the last step of a written path")
            node = found


def element_list(steps: tuple[Step, ...]) -> Callable[[dict, int], list]:
    """Returns a function (target, n) -> the list at steps, grown to n dict elements."""
    get = getter(steps)
    put = setter(steps)

    def ensure(target: dict, size: int) -> list:
        items = get(target)
        if not isinstance(items, list):
            items = []
            put(target, items, None)
        while len(items) < size:
            items.append({})
        return items

    return ensure


def path_setter(path: Path) -> Setter:
    """Returns a writer for the whole path; a `[]` path spreads a list value over elements."""
    if path.each_at is None:
        return setter(path.steps)
    ensure = element_list(path.prefix)
    rest = path.rest
    put_item = setter(rest) if rest else None

    def set_each(target: dict, value: Any, existing: Any = None) -> None:
        values = list(value) if isinstance(value, list | tuple) else [value]
        items = ensure(target, len(values))
        for i, v in enumerate(values):
            if put_item is None:
                items[i] = v
            else:
                put_item(items[i], v, None)

    return set_each
