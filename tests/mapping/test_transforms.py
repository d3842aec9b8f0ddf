"""Each transform of the registry, both ways, including the values admins get wrong."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connector.mapping.transforms import (
    NO_PARAMS,
    Context,
    TransformError,
    normalise_params,
    registry,
)
from connector.mapping.value_maps import Unmapped, ValueMap

TESTED = set()


def pair(name: str, raw: Any = NO_PARAMS, **context: Any) -> tuple[Any, Any]:
    TESTED.add(name)
    transform = registry()[name]
    return transform.build(normalise_params(transform, raw), Context(**context))


def test_trim_strips_and_makes_empty_none() -> None:
    into, out = pair("trim")
    assert into("  John ") == "John"
    assert into("   ") is None
    assert out(None) == ""
    assert out(" Doe ") == "Doe"


def test_lower_and_upper() -> None:
    assert pair("lower")[0]("MiXeD") == "mixed"
    assert pair("upper")[0]("ua") == "UA"
    assert pair("upper")[1](None) is None


def test_str_turns_numbers_into_text() -> None:
    into, out = pair("str")
    assert into(727) == "727"
    assert into(3.0) == "3"
    assert out("x") == "x"


def test_id_is_text_in_the_hub_and_a_number_going_out() -> None:
    into, out = pair("id")
    assert into(25) == "25"
    assert out("25") == 25
    assert out("C-1042") == "C-1042"


def test_truncate_only_cuts_going_out() -> None:
    into, out = pair("truncate", 5)
    assert out("abcdefgh") == "abcde"
    assert into("abcdefgh") == "abcdefgh"


def test_unescape_and_strip_html() -> None:
    assert pair("unescape_html")[0]("Ship Your Idea &ndash; Black") == "Ship Your Idea – Black"
    assert pair("strip_html")[0]("<p>Soft &amp; warm</p>\n") == "Soft & warm"


def test_prefix_adds_going_out_and_strips_coming_in() -> None:
    into, out = pair("prefix", "Order #")
    assert out("727") == "Order #727"
    assert into("Order #727") == "727"
    assert into("727") == "727"


def test_email_normalises_and_applies_the_invalid_policy() -> None:
    into, out = pair("email")
    assert into("  John.Doe@Example.COM ") == "john.doe@example.com"
    assert into("not-an-email") == "not-an-email"  # keep is the default
    assert pair("email", {"on_invalid": "drop"})[0]("not-an-email") is None
    with pytest.raises(TransformError, match="not an email"):
        pair("email", {"on_invalid": "error"})[0]("not-an-email")
    assert out("A@B.CO") == "a@b.co"


def test_phone_uses_the_region_for_national_numbers() -> None:
    into, _ = pair("phone", phone_region="US")
    assert into("(555) 555-5555") == "+15555555555"
    assert into("+380 67 123 4567") == "+380671234567"
    assert pair("phone", "UA")[0]("067 123 4567") == "+380671234567"
    assert pair("phone", phone_region="UA")[0]("0671234567") == "+380671234567"
    assert into("00380671234567") == "+380671234567"


def test_phone_formats_going_out_and_rejects_garbage_on_request() -> None:
    _, out = pair("phone", {"format": "international"}, phone_region="UA")
    assert out("+380671234567") == "+380 67 123 4567"
    assert pair("phone", {"on_invalid": "drop"})[0]("12") is None
    with pytest.raises(TransformError, match="phone"):
        pair("phone", {"on_invalid": "error"})[0]("call me")


def test_split_and_join_are_mirror_images() -> None:
    into, out = pair("split")
    assert into("John Ronald Doe") == ("John", "Ronald Doe")
    assert into("Cher") == ("Cher", None)
    assert out(("John", None)) == "John"
    join_in, join_out = pair("join", {"sep": ", "})
    assert join_in(("Doe", "John")) == "Doe, John"
    assert join_out("Doe, John") == ("Doe", "John")


def test_coalesce_takes_the_first_non_empty_value() -> None:
    into, out = pair("coalesce")
    assert into((None, "", "+1555")) == "+1555"
    assert out(("", None)) is None
    assert into("single") == "single"


def test_decimal_keeps_quantities_exact() -> None:
    into, out = pair("decimal")
    assert into(2) == Decimal("2")
    assert into("1,5") == Decimal("1.5")
    assert out(Decimal("2")) == "2"
    assert pair("decimal", "number")[1](Decimal("1.5")) == 1.5
    with pytest.raises(TransformError, match="not a number"):
        into("two")


def test_int() -> None:
    into, out = pair("int")
    assert into("7") == 7
    assert out(Decimal("3")) == 3


def test_money_rounds_to_the_currency_minor_unit() -> None:
    into, out = pair("money")
    assert into("29.35") == Decimal("29.35")
    assert into(3) == Decimal("3.00")
    assert out(Decimal("10")) == "10.00"
    assert pair("money", {"as": "number"})[1](Decimal("29.35")) == 29.35
    assert pair("money", {"as": "number"})[1](Decimal("10.00")) == 10
    assert pair("money", {"currency": "JPY"})[0]("1200.4") == Decimal("1200")
    assert pair("money", currency="KWD")[1](Decimal("1.5")) == "1.500"


def test_scale_converts_units() -> None:
    into, out = pair("scale", 1000)
    assert into(1250) == Decimal("1.25")
    assert out(Decimal("1.25")) == Decimal("1250")


def test_sum_adds_a_list_and_works_only_coming_in() -> None:
    into, out = pair("sum")
    assert into([Decimal("7.00"), Decimal("2.25"), None]) == Decimal("9.25")
    assert out is None


def test_none_if_maps_a_placeholder_to_empty() -> None:
    into, out = pair("none_if", 0)
    assert into(0) is None
    assert into(23) == 23
    assert out(None) == 0


def test_yn_flags() -> None:
    into, out = pair("yn")
    assert into("Y") is True
    assert into("N") is False
    assert out(True) == "Y"
    assert out(False) == "N"
    assert out(None) is None
    with pytest.raises(TransformError, match="yes/no"):
        into("maybe")


def test_bool_reads_many_spellings_and_writes_the_given_ones() -> None:
    into, out = pair("bool", {"true": "1", "false": "0"})
    assert [into(v) for v in ("1", "yes", "on", True, "0", "no", False)] == [True] * 4 + [False] * 3
    assert out(True) == "1"
    assert out(False) == "0"
    assert pair("bool")[1](True) is True


def test_datetime_reads_naive_times_in_the_zone_and_keeps_utc() -> None:
    into, out = pair("datetime", {"tz": "UTC"})
    moment = into("2017-03-22T19:28:02")
    assert moment == dt.datetime(2017, 3, 22, 19, 28, 2, tzinfo=dt.UTC)
    assert pair("datetime")[0]("2024-08-15T10:38:21+02:00").hour == 8
    kyiv_in, kyiv_out = pair("datetime", {"tz": "Europe/Kyiv", "format": "%Y-%m-%d %H:%M:%S"})
    assert kyiv_in("2022-03-08 15:16:53") == dt.datetime(2022, 3, 8, 13, 16, 53, tzinfo=dt.UTC)
    assert kyiv_out(dt.datetime(2022, 3, 8, 13, 16, 53, tzinfo=dt.UTC)) == "2022-03-08 15:16:53"
    assert out(moment) == "2017-03-22T19:28:02+00:00"
    assert pair("datetime", {"tz": "UTC", "naive": True})[1](moment) == "2017-03-22T19:28:02"
    with pytest.raises(TransformError, match="date/time"):
        into("yesterday")


def test_date_keeps_the_calendar_day() -> None:
    into, out = pair("date")
    assert into("2001-11-11T02:00:00+02:00") == dt.date(2001, 11, 11)
    assert into("1990-04-17") == dt.date(1990, 4, 17)
    assert out(dt.date(1990, 4, 17)) == "1990-04-17"
    assert pair("date", "%m/%d")[1](dt.date(1990, 4, 17)) == "04/17"


def test_default_and_const() -> None:
    into, out = pair("default", "NEW")
    assert into(None) == "NEW"
    assert into("") == "NEW"
    assert out("WON") == "WON"
    const_in, const_out = pair("const", "STORE")
    assert const_in("anything") == "STORE"
    assert const_out(None) == "STORE"


def test_comma_list() -> None:
    into, out = pair("comma_list")
    assert into("Group1, Group2,") == ["Group1", "Group2"]
    assert out(["a", "b"]) == "a,b"


def test_map_uses_the_value_map_of_the_system() -> None:
    table = ValueMap(
        "deal_stage",
        "bitrix24",
        {"processing": "EXECUTING"},
        {"EXECUTING": "processing"},
        Unmapped("error"),
        Unmapped("use", "NEW"),
    )
    into, out = pair("map", "deal_stage", value_map=lambda name: table)
    assert into("EXECUTING") == "processing"
    assert out("processing") == "EXECUTING"
    assert out("refunded") == "NEW"


def test_parameters_are_checked_with_a_hint() -> None:
    with pytest.raises(
        TransformError, match=r"unknown parameter 'regoin' of 'phone' \(did you mean 'region'\?\)"
    ):
        normalise_params(registry()["phone"], {"regoin": "UA"})
    with pytest.raises(TransformError, match="must be one of"):
        normalise_params(registry()["phone"], {"format": "fancy"})
    with pytest.raises(TransformError, match="needs parameter 'value'"):
        normalise_params(registry()["const"])
    with pytest.raises(TransformError, match="wrong type"):
        normalise_params(registry()["truncate"], {"length": "long"})


def test_every_registered_transform_has_a_test() -> None:
    assert set(registry()) <= TESTED, sorted(set(registry()) - TESTED)
