"""The walker that checks a feature's rules file (delivery, analytics...) and locates each problem.

A feature's `_Checker` subclasses `RulesChecker`, adds the checks of its own value kinds, and
reads the document with them; every problem becomes a `MappingError` naming the file, the line
and the key path (without the file's top key), and the walk goes on to find the next one.
"""

from __future__ import annotations

from typing import Any

from connector.errors import MappingError
from connector.mapping import loader
from connector.mapping.errors import did_you_mean


class RulesChecker:
    """Walks a rules document, collecting a located error for each problem instead of stopping."""

    def __init__(self, document: loader.Document, root: str) -> None:
        self.document = document
        self.root = root
        self.errors: list[MappingError] = []

    def fail(self, location: tuple[Any, ...], message: str) -> None:
        label = ".".join(
            f"[{p}]" if isinstance(p, int) else str(p) for p in location if p != self.root
        ).replace(".[", "[")
        self.errors.append(
            MappingError(message, self.document.file, self.document.line(location), label or None)
        )

    def mapping(self, value: Any, location: tuple[Any, ...], keys: tuple[str, ...]) -> dict:
        """`value` as a mapping ({} when absent or wrong); keys outside `keys` are problems."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(location, "must be a mapping (key: value)")
            return {}
        for key in value:
            if keys and key not in keys:
                self.fail((*location, key), f"unknown key {key!r}{did_you_mean(str(key), keys)}")
        return value
