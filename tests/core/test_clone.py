"""A clone stands alone: nothing outside the repo is read, and installing it warns about nothing."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from connector_sandbox.mailchimp import openapi
from tests.support import SPECS

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"""["'/]shared["'/]|/work/""")


def test_no_code_or_test_reads_a_folder_beside_the_repo() -> None:
    offenders = []
    for folder in ("connector", "jobs", "sandbox", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line) and "specs" in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_official_examples_ship_in_the_repo_with_their_sources() -> None:
    for system in ("bitrix24", "mailchimp", "woocommerce", "delivery", "loyalty"):
        assert (SPECS / system / "README.md").is_file(), system
    assert "Source" in (SPECS / "bitrix24" / "README.md").read_text(encoding="utf-8")
    assert (SPECS / "README.md").read_text(encoding="utf-8").count("licence") >= 1


def test_the_mailchimp_emulator_validates_against_the_repos_own_openapi_file(
    monkeypatch,
) -> None:
    monkeypatch.delenv(openapi.ENV_VAR, raising=False)
    path = openapi.spec_path()
    assert path == SPECS / "mailchimp" / "marketing-api.json"
    validator = openapi.RequestValidator(path)
    problems = validator.errors("POST", "/lists/abc/members", {"email_address": 5})
    assert problems, "a member with a numeric email address must be refused"


def test_the_package_licence_is_an_spdx_string_so_pip_install_prints_no_deprecation() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert (ROOT / project["project"]["license-files"][0]).is_file()
    assert "setuptools>=77" in project["build-system"]["requires"]
