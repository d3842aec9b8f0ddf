"""Bench scripts run as `python bench/<name>.py`, which puts bench/ first on the import path: a
script named like a standard-library module (`queue`) or one of the project's top-level modules
(`webhooks`) would be imported in its place by everything the script loads."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_no_bench_script_shadows_a_standard_or_project_module():
    project = {p.stem for p in ROOT.glob("*.py")} | {
        p.parent.name for p in ROOT.glob("*/__init__.py")
    }
    shadowing = {
        script.name
        for script in (ROOT / "bench").glob("*.py")
        if script.stem in sys.stdlib_module_names or script.stem in project
    }
    assert not shadowing, f"rename {sorted(shadowing)}: they shadow modules of the same name"
    assert "webhooks" in project and "queue" in sys.stdlib_module_names  # the rule bites


def test_make_bench_runs_the_scripts_without_python_dash_p():
    bench = next(
        line for line in (ROOT / "Makefile").read_text().splitlines() if "bench/*.py" in line
    )
    assert " -P " not in bench
