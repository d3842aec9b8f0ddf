"""mappings/cascades.yaml is checked like the other mapping files: every problem names the file,
the line and the key, and the bundled file is valid."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connector.cascades.rules import (
    check_rules_file,
    check_text,
    parse_duration,
    parse_quiet_hours,
    render,
)
from connector.mapping import MappingSet
from tests.cascades.conftest import SCENARIOS, ChatChannel, FakeChannel, fake_systems

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture(scope="module")
def systems():
    return fake_systems(
        FakeChannel("fakemail", "email"), FakeChannel("fakesms", "sms"),
        ChatChannel("fakechat", "messenger"),
    )  # fmt: skip


def problems(text: str, systems) -> list[str]:
    rules, errors = check_text(text, "cascades.yaml", systems)
    assert (rules is None) == bool(errors)
    return [str(error) for error in errors]


def test_the_test_scenarios_load_with_every_key(systems) -> None:
    rules, errors = check_text(SCENARIOS, "cascades.yaml", systems)
    assert errors == []
    assert rules is not None
    cart = rules.scenarios["abandoned_cart"]
    assert cart.trigger.event == "cart.left" and cart.trigger.after == 3600
    assert [s.channels for s in cart.steps] == [("fakemail",), ("fakesms",), ("fakechat",)]
    assert [s.delay for s in cart.steps] == [0, 3 * 3600, 86400]
    assert cart.quiet_hours is not None and cart.quiet_hours.text == "21:00-09:00"
    assert cart.caps["sms"].count == 2 and cart.caps["sms"].seconds == 7 * 86400
    assert rules.scenarios["pickup"].quiet_hours is None  # `none` overrides the default
    assert cart.stops == {"order_placed", "cart_bought", "unsubscribed", "blocked"}


def test_an_unknown_field_in_a_text_names_the_file_line_and_key(systems) -> None:
    text = """\
cascades:
  scenarios:
    cart:
      trigger: {event: cart.left, after: 60m}
      steps:
        - channel: fakemail
          text: "Hi {customer.frist_name}, {order.number}"
"""
    assert problems(text, systems) == [
        "cascades.yaml:7: scenarios.cart.steps[0].text: unknown field {customer.frist_name}"
        " (did you mean 'first_name'?)",
        "cascades.yaml:7: scenarios.cart.steps[0].text: {order.number}: a cart.left scenario has"
        " no order (it has cart, customer, event)",
    ]


def test_channels_must_be_systems_that_declare_a_channel(systems) -> None:
    text = """\
cascades:
  scenarios:
    cart:
      trigger: {event: cart.left, after: 60m}
      steps:
        - {channel: fakesmss, text: hi}
        - {channel: [fakemail, bitrix24], text: hi}
"""
    found = problems(text, systems)
    assert found[0] == (
        "cascades.yaml:6: scenarios.cart.steps[0].channel: unknown system 'fakesmss'"
        " (did you mean 'fakesms'?)"
    )
    assert found[1].startswith(
        "cascades.yaml:7: scenarios.cart.steps[1].channel[1]: bitrix24 is not a message channel"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("      trigger: {event: cart.left, after: soon}",
         "trigger.after: must be a duration like 60m, 3h or 1d, not 'soon'"),
        ("      trigger: {event: order.status, status: payed}",
         "trigger.status: unknown status 'payed'"),
        ("      trigger: {event: cart.left, after: 1h}\n      quiet_hours: '22-8'",
         'quiet_hours: must be a window "HH:MM-HH:MM"'),
        ("      trigger: {event: cart.left, after: 1h}\n      cap: {sms: twice}",
         'cap.sms: must read "N per PERIOD"'),
        ("      trigger: {event: cart.left, after: 1h}\n      stop: [bought]",
         "stop[0]: unknown stop condition 'bought'"),
        ("      trigger: {event: cart.left}", "trigger.after: how long a cart must be left"),
        ("      trigger: {event: cart.left, after: 1h}\n      stpes: []", "unknown key 'stpes'"),
    ],
)  # fmt: skip
def test_each_bad_value_is_one_located_error(systems, line: str, message: str) -> None:
    steps = "      steps: [{channel: fakesms, text: hi}]\n"
    text = f"cascades:\n  scenarios:\n    s:\n{line}\n{steps}"
    found = problems(text, systems)
    assert any(message in problem for problem in found), found
    assert all(problem.startswith("cascades.yaml:") for problem in found)


def test_broken_yaml_names_the_file_and_line(tmp_path: Path, systems) -> None:
    path = tmp_path / "cascades.yaml"
    path.write_text("cascades:\n  scenarios:\n    s: [unclosed\n", encoding="utf-8")
    rules, errors = check_rules_file(str(path), systems)
    assert rules is None
    assert errors and errors[0].file.endswith("cascades.yaml") and errors[0].line


def test_mappings_validate_reports_the_cascades_file_with_the_others(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    (folder / "cascades.yaml").write_text(
        "cascades:\n  scenarios:\n    s:\n      trigger: {event: cart.left, after: 1h}\n"
        "      steps: [{channel: nosuch, text: hi}]\n",
        encoding="utf-8",
    )
    found, errors = MappingSet.check(str(folder))
    assert found is None
    assert any("cascades.yaml:5" in str(e) and "nosuch" in str(e) for e in errors), errors


def test_the_bundled_scenarios_file_is_valid() -> None:
    path = MAPPINGS / "cascades.yaml"
    rules, errors = check_rules_file(str(path))
    assert errors == []
    assert rules is not None
    assert {"abandoned_cart", "pickup_reminder", "bonus_expiring", "review_request",
            "win_back"} <= set(rules.scenarios)  # fmt: skip


def test_durations_quiet_windows_and_the_safe_formatter() -> None:
    assert parse_duration("1d12h") == 1.5 * 86400
    assert parse_duration("90m") == 5400
    assert parse_duration("") is None and parse_duration(True) is None
    quiet = parse_quiet_hours("21:00-09:00")
    assert quiet is not None
    assert quiet.holds(22 * 60) and quiet.holds(8 * 60) and not quiet.holds(12 * 60)
    late = dt.datetime(2027, 1, 15, 23, 30)
    assert quiet.end_after(late) == dt.datetime(2027, 1, 16, 9, 0)
    assert render("{customer.first_name}: {x.__class__}", {"customer.first_name": "Anna"}) == (
        "Anna: "
    )
