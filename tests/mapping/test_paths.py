"""Paths read and write nested payloads, lists, indexes and Bitrix24-style multifield selectors."""

from __future__ import annotations

import pytest

from connector.mapping.paths import MISSING, PathError, parse, path_getter, path_setter

CONTACT = {
    "PHONE": [
        {"ID": "156", "VALUE_TYPE": "WORK", "VALUE": "+13333333555", "TYPE_ID": "PHONE"},
        {"ID": "157", "VALUE_TYPE": "HOME", "VALUE": "+15599888666", "TYPE_ID": "PHONE"},
    ],
    "billing": {"phone": "(555) 555-5555", "company": None},
}


def get(text: str, record: dict):
    return path_getter(parse(text))(record)


def put(text: str, value, existing=None) -> dict:
    target: dict = {}
    path_setter(parse(text))(target, value, existing)
    return target


def test_dotted_paths_read_nested_values_and_tell_missing_from_null() -> None:
    assert get("billing.phone", CONTACT) == "(555) 555-5555"
    assert get("billing.company", CONTACT) is None
    assert get("billing.email", CONTACT) is MISSING
    assert get("shipping.city", CONTACT) is MISSING


def test_selectors_and_indexes_pick_one_element() -> None:
    assert get("PHONE[VALUE_TYPE=HOME].VALUE", CONTACT) == "+15599888666"
    assert get("PHONE[VALUE_TYPE=MOBILE].VALUE", CONTACT) is MISSING
    assert get("PHONE[1].ID", CONTACT) == "157"
    assert get("PHONE[5].ID", CONTACT) is MISSING


def test_each_reads_a_list_of_element_values() -> None:
    assert get("PHONE[].VALUE_TYPE", CONTACT) == ["WORK", "HOME"]
    assert get("PHONE[]", CONTACT) == CONTACT["PHONE"]


def test_writing_creates_containers() -> None:
    assert put("billing.address.city", "Kyiv") == {"billing": {"address": {"city": "Kyiv"}}}
    assert put("images[1].src", "b.jpg") == {"images": [{}, {"src": "b.jpg"}]}


def test_writing_a_selector_adds_the_element_with_its_key() -> None:
    assert put("PHONE[VALUE_TYPE=WORK].VALUE", "+1") == {
        "PHONE": [{"VALUE_TYPE": "WORK", "VALUE": "+1"}]
    }


def test_writing_a_selector_keeps_the_id_of_the_existing_element() -> None:
    written = put("PHONE[VALUE_TYPE=HOME].VALUE", "+15550001111", existing=CONTACT)
    assert written == {
        "PHONE": [{"ID": "157", "VALUE_TYPE": "HOME", "VALUE": "+15550001111", "TYPE_ID": "PHONE"}]
    }
    assert CONTACT["PHONE"][1]["VALUE"] == "+15599888666"  # the existing record is not touched


def test_writing_each_spreads_a_list() -> None:
    assert put("tags[].name", ["vip", "new"]) == {"tags": [{"name": "vip"}, {"name": "new"}]}
    assert put("tags[]", ["vip"]) == {"tags": ["vip"]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty path"),
        ("a..b", "bad path segment"),
        ("emails[primary]", "bad selector"),
        ("a[].b[].c", "only one '[]'"),
    ],
)
def test_bad_paths_are_refused(text: str, reason: str) -> None:
    with pytest.raises(PathError, match=reason.replace("[", r"\[")):
        parse(text)
