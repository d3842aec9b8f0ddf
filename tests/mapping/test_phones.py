"""The fast path for `+` numbers gives exactly what libphonenumber's full parser gives."""

from __future__ import annotations

import string

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector.mapping.phones import PhoneError, _fast_international, normaliser

REGIONS = ["US", "UA", "RU", "KZ", "DE", "GB", "IT", "FR", "PL", "BR", "IN", "CN", "AR", "MX", "AU"]


def full_parser(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def formatted_examples() -> st.SearchStrategy[str]:
    def render(region: str, kind: int, digits: str) -> str:
        number = phonenumbers.example_number(region)
        national = str(number.national_number)
        number.national_number = int(national[: -len(digits)] + digits)
        return phonenumbers.format_number(number, kind)

    kinds = st.sampled_from(
        [
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        ]
    )
    digits = st.text(alphabet=string.digits, min_size=1, max_size=4)
    return st.builds(render, st.sampled_from(REGIONS), kinds, digits)


RAW = st.builds("+{}".format, st.text(alphabet=string.digits + " -()", min_size=1, max_size=18))


@settings(max_examples=500, deadline=None, database=None)
@given(text=st.one_of(formatted_examples(), RAW), region=st.sampled_from(REGIONS))
@example(text="+44 (0)20 7031 3000", region="GB")
@example(text="+39 06 1234 5678", region="IT")
@example(text="+380 67 123 4567", region="UA")
@example(text="+7 (912) 345-67-89", region="RU")
@example(text="+043100", region="US")
def test_fast_path_agrees_with_the_full_parser(text: str, region: str) -> None:
    fast = _fast_international(text)
    if fast is not None:
        assert fast == full_parser(text, region)
    normalise = normaliser(region)
    try:
        ours = normalise(text)
    except PhoneError:
        ours = None
    assert ours == full_parser(text, region)


def test_common_shapes() -> None:
    us = normaliser("US")
    assert us("(555) 555-5555") == "+15555555555"
    assert us("+1 555 555 5555") == "+15555555555"
    assert normaliser("UA")("067 123 4567") == "+380671234567"
    assert normaliser("UA")("00380671234567") == "+380671234567"
    with pytest.raises(PhoneError):
        us("12")
