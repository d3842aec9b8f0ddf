"""Types that reach across modules: a type checker sees every setting as a typed attribute."""

from __future__ import annotations

import typing
from dataclasses import fields

from connector.config import SETTINGS, Settings


def test_every_setting_is_a_typed_attribute_that_holds_its_default_and_what_it_parses():
    hints = typing.get_type_hints(Settings)
    assert [f.name for f in fields(Settings)] == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        hint = hints[setting.name]
        assert hint is not typing.Any, f"{setting.name} is typed Any"
        assert isinstance(setting.default, hint), f"{setting.name}: default is not {hint}"
        parsed = setting.parse("1" if setting.default is None else str(setting.default))
        assert isinstance(parsed, hint), f"{setting.name}: {setting.parse} gives no {hint}"
