"""The rules file: what admins may write, and how mistakes are reported (file:line: field)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from connector.loyalty import LoyaltyRules, load_rules, validate_rules_file
from connector.loyalty.rules import SHIPPED_RULES, rules_path
from connector.loyalty.tasks import make_handlers

DOCS = Path(__file__).parents[2] / "docs" / "loyalty.md"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "loyalty.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_shipped_rules_are_valid_and_are_the_defaults() -> None:
    assert validate_rules_file(SHIPPED_RULES) == []
    shipped = load_rules(SHIPPED_RULES)
    assert shipped.tier_percents == {"silver": Decimal(7), "gold": Decimal(10)}
    defaults = LoyaltyRules()
    assert (shipped.accrual_percent, shipped.return_window_days, shipped.expiry_days) == (
        defaults.accrual_percent,
        defaults.return_window_days,
        defaults.expiry_days,
    )


def test_only_the_accrual_percent_is_required(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "loyalty:\n  accrual:\n    percent: 3.5\n"))
    assert rules.accrual_percent == Decimal("3.5")
    assert rules.pending_until == "delivered"


def test_every_problem_names_its_line_and_field(tmp_path: Path) -> None:
    text = (
        "loyalty:\n"
        "  accrual:\n"
        "    percent: 5\n"
        "    tiers: {gold: 120}\n"
        "  pending:\n"
        "    until: shipped\n"
        "  expiry:\n"
        "    days: -1\n"
        "  colour: red\n"
    )
    errors = validate_rules_file(write(tmp_path, text))
    found = {(e.line, e.field) for e in errors}
    assert found == {
        (4, "loyalty.accrual.tiers.gold"),
        (6, "loyalty.pending.until"),
        (8, "loyalty.expiry.days"),
        (9, "loyalty.colour"),
    }
    assert all(e.file and e.file.endswith("loyalty.yaml") for e in errors)


def test_a_missing_percent_and_a_yaml_slip_are_reported(tmp_path: Path) -> None:
    [missing] = validate_rules_file(write(tmp_path, "loyalty:\n  accrual: {}\n"))
    assert "missing required key 'percent'" in str(missing)
    [syntax] = validate_rules_file(write(tmp_path, "loyalty:\n  accrual: [\n"))
    assert "YAML syntax" in str(syntax)


def test_the_admin_file_wins_over_the_shipped_one(tmp_path: Path) -> None:
    assert rules_path(str(tmp_path)) == SHIPPED_RULES
    write(tmp_path, "loyalty:\n  accrual:\n    percent: 1\n")
    assert rules_path(str(tmp_path)) == str(tmp_path / "loyalty.yaml")


def test_the_docs_name_every_task_kind() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(loyalty\.[a-z_]+)`", text))
    assert set(make_handlers()) <= documented


def test_a_broken_rules_file_makes_tasks_wait_instead_of_dying(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from connector.errors import MappingsUnusable, PermanentError
    from connector.loyalty.rules import rules_for

    (tmp_path / "loyalty.yaml").write_text("loyalty:\n  accrual: {percent: lots}\n")
    with pytest.raises(MappingsUnusable) as waited:
        rules_for(SimpleNamespace(mappings_dir=str(tmp_path)))
    assert not isinstance(waited.value, PermanentError)  # the queue retries it, never dead
    assert "loyalty" in str(waited.value) and waited.value.problems
