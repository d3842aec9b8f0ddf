"""Reads YAML mapping files keeping the line of every key, so each error can point at its line.

PyYAML's composed nodes carry `start_mark.line`; we build plain Python data from them ourselves and
record `path -> line` (path = tuple of keys and list indexes, as marshmallow reports errors).
Duplicate keys, which YAML would silently collapse, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from connector.errors import MappingError

try:  # the C parser is ~10x faster; the pure one gives the same nodes
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

Location = tuple[Any, ...]


@dataclass
class Document:
    """One parsed file: its data and the line of every key and list item."""

    file: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line(self, location: Location) -> int:
        """The line of the nearest known enclosing location (1-based)."""
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return self.lines.get((), 1)


def parse(text: str, file: str) -> tuple[Document | None, list[MappingError]]:
    """Parses YAML text; returns the document or the syntax/duplicate-key errors."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        return None, [MappingError(f"YAML syntax: {error.problem}", file=file, line=line)]
    except yaml.reader.ReaderError as error:  # a control character (NUL ...) in the text
        line = text.count("\n", 0, max(0, error.position)) + 1
        return None, [MappingError(f"YAML: {error.reason}", file=file, line=line)]
    document = Document(file, None)
    errors: list[MappingError] = []
    if node is None:
        return document, errors
    document.lines[()] = node.start_mark.line + 1
    document.data = _build(node, (), document, errors, yaml.SafeLoader(""))
    return document, errors


def _build(
    node: yaml.Node,
    location: Location,
    document: Document,
    errors: list[MappingError],
    constructor: yaml.SafeLoader,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (
                constructor.construct_object(key_node)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            line = key_node.start_mark.line + 1
            if key is None and not isinstance(key_node, yaml.ScalarNode):
                errors.append(MappingError("a key must be a plain value", document.file, line))
                continue
            if key in result:
                errors.append(MappingError(f"duplicate key {key!r}", document.file, line, str(key)))
            document.lines[(*location, key)] = line
            result[key] = _build(value_node, (*location, key), document, errors, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            document.lines[(*location, index)] = item.start_mark.line + 1
            items.append(_build(item, (*location, index), document, errors, constructor))
        return items
    return constructor.construct_object(node)


def read_text(path: str, display: str | None = None) -> tuple[str | None, list[MappingError]]:
    """One file's text, or the error saying why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), []
    except (OSError, UnicodeDecodeError) as error:
        return None, [MappingError(f"cannot read: {error}", file=display or path)]


def read(path: str, display: str | None = None) -> tuple[Document | None, list[MappingError]]:
    """Reads and parses one file; `display` is the name used in messages (relative path)."""
    text, errors = read_text(path, display)
    if text is None:
        return None, errors
    return parse(text, display or path)
