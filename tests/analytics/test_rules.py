"""mappings/analytics.yaml: checked with the other mapping files, errors naming file and line;
admins change thresholds and segment names without code."""

from __future__ import annotations

from connector.analytics.keeper import figures_of, recompute_all, transitions_of
from connector.analytics.rules import check_rules_file, check_text
from connector.mapping import MappingSet
from connector.mapping.errors import format_error
from tests.analytics.conftest import MAPPINGS


def test_the_shipped_rules_are_valid_and_cover_the_whole_grid():
    rules, errors = check_rules_file(str(MAPPINGS / "analytics.yaml"))

    assert errors == []
    assert rules is not None
    assert {rules.segment_of(r, f).name for r in range(1, 6) for f in range(1, 6)} == {
        s.name for s in rules.segments
    }
    assert rules.bitrix24["segment"] == "UF_CRM_RFM_SEGMENT"


def test_a_bad_rules_file_fails_the_mappings_check_naming_file_and_line(mappings_dir):
    path = mappings_dir / "analytics.yaml"
    text = path.read_text().replace("recency: {days: [30, 60, 90, 180]}",
                                    "recency: {days: [30, 90, 60, 180]}")  # fmt: skip
    text = text.replace("    segment: UF_CRM_RFM_SEGMENT", "    segment: RFM_SEGMENT")
    path.write_text(text)
    lines = text.splitlines()

    _, errors = MappingSet.check(mappings_dir)

    shown = [format_error(e) for e in errors]
    recency = 1 + next(i for i, line in enumerate(lines) if "recency:" in line)
    field = 1 + next(i for i, line in enumerate(lines) if "segment: RFM_SEGMENT" in line)
    assert any(
        s.endswith(
            f"analytics.yaml:{recency}: scores.recency.days: thresholds go best first, "
            "so they must be rising (30, 60, ...)"
        )  # fmt: skip
        for s in shown
    ), shown
    assert any(
        f"analytics.yaml:{field}: bitrix24.segment: 'RFM_SEGMENT' is not" in s for s in shown
    )


def test_a_grid_that_leaves_scores_without_a_segment_is_refused():
    text = """analytics:
  segments:
    - {name: Champions, r: 5, f: 4-5}
    - {name: Everyone else, r: 1-4}
"""
    _, errors = check_text(text, "analytics.yaml")

    [error] = errors
    assert error.line == 2  # the `segments:` key
    assert "leaves 3 R-F pair(s) without a segment: R 5 F 1, R 5 F 2, R 5 F 3" in str(error)


def test_unknown_keys_and_statuses_are_named_with_a_suggestion():
    text = """analytics:
  lookbak_days: 30
  counted_statuses: [processing, complete]
"""
    _, errors = check_text(text, "analytics.yaml")

    assert sorted(format_error(e) for e in errors) == [
        "analytics.yaml:2: lookbak_days: unknown key 'lookbak_days' "
        "(did you mean 'lookback_days'?)",
        "analytics.yaml:3: counted_statuses[1]: unknown order status 'complete' "
        "(did you mean 'completed'?)",
    ]


def test_a_changed_threshold_in_the_file_resegments_without_code(services, shop, mappings_dir):
    ann = shop.order("A-1", "10.00", email="ann@example.com", days_ago=75)
    shop.order("A-2", "10.00", email="ann@example.com", days_ago=70)
    shop.order("A-3", "10.00", email="ann@example.com", days_ago=70)
    assert figures_of(services.engine, ann)["segment"] == "Need attention"  # R 3, F 3

    path = mappings_dir / "analytics.yaml"
    path.write_text(
        path.read_text()
        .replace("recency: {days: [30, 60, 90, 180]}", "recency: {days: [14, 30, 60, 120]}")
        .replace("{name: At risk, r: 1-2, f: 3-4}", "{name: Slipping away, r: 1-2, f: 3-4}")
    )
    recompute_all(services)

    figures = figures_of(services.engine, ann)
    assert (figures["r"], figures["segment"]) == (2, "Slipping away")
    assert [(t["from_segment"], t["to_segment"], t["cause"]) for t in transitions_of(
        services.engine, ann)][-1] == ("Need attention", "Slipping away", "nightly")  # fmt: skip


def test_a_mappings_folder_without_the_file_gets_the_defaults_and_no_fields(tmp_path):
    from connector.analytics.rules import AnalyticsRules, rules_for, user_fields
    from tests.support import make_settings

    empty = tmp_path / "own-mappings"
    empty.mkdir()

    rules = rules_for(make_settings(tmp_path, mappings_dir=empty))

    assert rules == AnalyticsRules()
    assert rules.segment_of(1, 1).name == "Hibernating"
    assert (rules.bitrix24, rules.mailchimp_fields, user_fields(empty)) == ({}, {}, [])
