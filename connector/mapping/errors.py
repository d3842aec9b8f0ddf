"""Collected mapping-file problems: every error of every file is reported in one run."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from connector.errors import MappingError


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Returns " (did you mean 'x'?)" for the nearest valid name, or "" when nothing is close."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_error(error: MappingError) -> str:
    """`path:line: field: message`, one line, the way `connector mappings validate` prints it."""
    where = error.file or "<mappings>"
    if error.line:
        where = f"{where}:{error.line}"
    message = str(error.args[0]) if error.args else ""
    field = f"{error.field}: " if error.field else ""
    return f"{where}: {field}{message}"


class MappingErrors(MappingError):
    """All problems found while loading a mappings directory; `errors` lists each one."""

    def __init__(self, errors: list[MappingError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file or "", e.line or 0))
        count = len(self.errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in mapping files")

    def __str__(self) -> str:
        return "\n".join([self.args[0], *(format_error(e) for e in self.errors)])
