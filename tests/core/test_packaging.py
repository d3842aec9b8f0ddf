"""The runtime wheel is the connector alone: the emulators are their own distribution (./sandbox),
importing the connector loads neither them nor pytest, and the commands that need the sandbox say
how to install it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from setuptools import find_packages

from connector.cli import main

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("connector", "jobs", "webhooks.py")
# distribution name -> import name, where they differ
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "prometheus-client": "prometheus_client",
    "python-dotenv": "dotenv",
    "argon2-cffi": "argon2",
}


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _runtime_imports() -> set[str]:
    found: set[str] = set()
    for name in RUNTIME:
        paths = [ROOT / name] if name.endswith(".py") else (ROOT / name).rglob("*.py")
        for path in paths:
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r"^\s*(?:from|import) ([a-zA-Z_]\w*)", text, re.MULTILINE))
    return found


def test_importing_the_connector_loads_neither_pytest_nor_the_sandbox() -> None:
    probe = (
        "import sys, connector, connector.cli, connector.app, webhooks\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest',"
        " 'connector_sandbox') or m.startswith('connector.sandbox')]\n"
        "print(sorted(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_root_wheel_holds_no_emulator_package() -> None:
    find = _project(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(
        where=str(ROOT), include=find.get("include", ["*"]), exclude=find.get("exclude", [])
    )
    assert "connector" in packages and "connector.cli" in packages
    assert [p for p in packages if "sandbox" in p] == []


def test_the_sandbox_is_its_own_distribution_with_a_pytest_plugin() -> None:
    project = _project(ROOT / "sandbox" / "pyproject.toml")["project"]
    assert project["name"] == "connector-sandbox"
    assert "omnichannel-connector" in project["dependencies"]
    plugin = project["entry-points"]["pytest11"]["connector_sandbox"]
    assert (ROOT / "sandbox" / (plugin.replace(".", "/") + ".py")).is_file()


def test_every_runtime_dependency_is_imported_by_the_runtime() -> None:
    """A dependency only the emulators (or the tests) use belongs to their own distribution."""
    dependencies = _project(ROOT / "pyproject.toml")["project"]["dependencies"]
    names = [re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in dependencies]
    imported = _runtime_imports()
    unused = [n for n in names if IMPORT_NAMES.get(n, n.replace("-", "_")) not in imported]
    assert unused == []


@pytest.mark.parametrize("command", [["sandbox", "--port-base", "0"], ["demo"]])
def test_without_the_sandbox_installed_the_command_says_how_to_install_it(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "connector_sandbox", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "connector_sandbox.runner", raising=False)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: the sandbox is not installed")
    assert "pip install -e ./sandbox" in lines[0]


def test_every_file_the_console_serves_is_package_data_of_the_wheel() -> None:
    """The console's templates and styles ship in the wheel: each suffix is in package-data."""
    patterns = _project(ROOT / "pyproject.toml")["tool"]["setuptools"]["package-data"]["*"]
    shipped = {pattern.removeprefix("*") for pattern in patterns}
    served = {
        path.suffix
        for path in (ROOT / "connector").rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc", ".md"}  # .md: notes for developers
    }
    assert served, "connector/ holds no data files?"
    assert served <= shipped, f"add to [tool.setuptools.package-data]: {served - shipped}"
