"""Property: for every `both` field of the default mappings, in(out(x)) == x for canonical values x.

A canonical value written to a system and read back must come back unchanged, or a sync loop
would drift (each echo would change the record a little). Values are drawn per field from what
the canonical model holds there: E.164 phones, lower-case emails, money with two decimals, UTC
date-times, the canonical side of the field's value map.
"""

from __future__ import annotations

import datetime as dt
import string
from decimal import Decimal
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import MappingSet
from connector.mapping.paths import MISSING, parse, path_getter, path_setter
from connector.mapping.rules import FieldRule
from connector.model import field_types, line_field_types, scalar_type
from tests.mapping.conftest import MAPPINGS

SHIPPED = MappingSet.load(MAPPINGS)
BOTH = [
    (mapping, rule)
    for mapping in SHIPPED.mappings()
    for rule in mapping.rules
    if rule.direction == "both" and isinstance(rule.canonical, str)
]

WORD = st.text(alphabet=string.ascii_letters + "ÀÉÖßÑабвгґєїЖЯ-'", min_size=1, max_size=12)
TEXT = st.lists(WORD, min_size=1, max_size=4).map(" ".join)


def _phone(region: str, digits: str) -> str | None:
    example = phonenumbers.example_number(region)
    national = str(example.national_number)
    number = phonenumbers.parse(national[: -len(digits)] + digits, region)
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PHONES = st.builds(
    _phone,
    st.sampled_from(["US", "UA", "GB", "DE", "PL", "KZ", "RU"]),
    st.text(alphabet=string.digits, min_size=4, max_size=4),
).filter(bool)
EMAILS = st.builds(
    "{}@{}.{}".format,
    st.text(alphabet=string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=10),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    st.sampled_from(["com", "ua", "co.uk", "shop"]),
)
MONEY = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)
QUANTITIES = st.one_of(
    st.integers(min_value=0, max_value=10_000).map(Decimal),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)
MOMENTS = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
IDS = st.integers(min_value=1, max_value=10**12).map(str)
COUNTRIES = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)

BY_TRANSFORM: dict[str, st.SearchStrategy[Any]] = {
    "phone": PHONES,
    "email": EMAILS,
    "money": MONEY,
    "decimal": QUANTITIES,
    "int": st.integers(min_value=0, max_value=10**6),
    "datetime": MOMENTS,
    "date": st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
    "yn": st.booleans(),
    "bool": st.booleans(),
    "id": IDS,
    "upper": COUNTRIES,
    "lower": st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=5),
}


def _canonical_type(mapping: Any, path: str) -> Any:
    keys = parse(path).keys
    if keys[0] == "lines" and len(keys) > 1 and keys[1] != "custom":
        return scalar_type(line_field_types()[keys[1]])
    return scalar_type(field_types(mapping.canonical).get(keys[0]))


def strategy(mapping: Any, rule: FieldRule) -> st.SearchStrategy[Any]:
    names = [step.name for step in rule.transforms]
    for step in rule.transforms:
        if step.name == "map":
            table = SHIPPED.value_map(mapping.system, step.params["value_map"])
            both = [c for direction, c, _ in table.entries() if direction == "both"]
            return st.sampled_from(both)
    for name in names:
        if name in BY_TRANSFORM:
            return BY_TRANSFORM[name]
    kind = _canonical_type(mapping, rule.canonical)
    if kind is list:
        return st.lists(WORD, max_size=4)
    if "none_if" in names:
        return st.one_of(st.none(), IDS)
    return st.one_of(st.none(), TEXT) if "trim" in names else TEXT


def round_trip(mapping: Any, rule: FieldRule, value: Any) -> Any:
    path = parse(rule.canonical)
    canonical: dict[str, Any] = {}
    path_setter(path)(canonical, [value] if path.each_at is not None else value, None)
    system: dict[str, Any] = {}
    rule.apply_out(canonical, system, None)
    back: dict[str, Any] = {}
    rule.apply_in(system, back, None)
    found = path_getter(path)(back)
    if path.each_at is not None and isinstance(found, list):
        found = found[0] if found else MISSING
    return found


def test_the_default_mappings_have_both_fields() -> None:
    assert len(BOTH) > 60


@pytest.mark.parametrize(
    ("mapping", "rule"),
    BOTH,
    ids=[f"{m.system}/{m.entity}:{r.canonical}" for m, r in BOTH],
)
def test_in_of_out_is_identity(mapping, rule) -> None:
    @settings(max_examples=30, deadline=None, database=None)
    @given(value=strategy(mapping, rule))
    def check(value: Any) -> None:
        back = round_trip(mapping, rule, value)
        if rule.skip_if_empty and value in (None, "", []):
            assert back is MISSING or back is None  # not written, so nothing comes back
        else:
            assert back == value, (value, back)

    check()
