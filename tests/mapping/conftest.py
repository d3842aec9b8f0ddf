"""Fixtures of the mapping tests: the shipped mappings, the official example payloads, temp dirs."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import MappingSet
from tests.support import SPECS

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
FIXTURES = Path(__file__).parent / "fixtures"


def spec(relative: str) -> Any:
    """An official example payload from the repo's specs/ folder."""
    path = SPECS / relative
    return json.loads(path.read_text(encoding="utf-8"))


def fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shipped() -> MappingSet:
    """The default mappings of the repository, loaded once."""
    return MappingSet.load(MAPPINGS)


@pytest.fixture
def write_mappings(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Writes {relative path: YAML text} under a temp `mappings/` and returns the folder."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "mappings"
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return root

    return write
