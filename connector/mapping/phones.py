"""E.164 phone normalisation: a fast path for numbers already written with `+`, libphonenumber else.

`phonenumbers.parse` costs 20-40 us, more than mapping the rest of a 30-field record. Numbers that
arrive as `+<country code><number>` (Bitrix24, Mailchimp, the canonical side itself) need only a
country code and a length check, which the library's metadata answers in ~3 us. Anything else
(national formats, a national prefix after the country code, extensions, letters) goes through
the full parser, and results are cached: the same numbers come back with every order and echo.
`tests/mapping/test_phones.py` checks the fast path against the full parser.

A number written without `+` is read in a region: the record's own country when the mapping says
where it is (`{phone: {country_from: billing.country}}`), else the configured `phone_region`
(`mappings/defaults.yaml`; `DEFAULT_REGION` when no file sets one).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import phonenumbers
import yaml
from phonenumbers import PhoneMetadata, PhoneNumber

DEFAULT_REGION = "RU"
"""The region when no file sets `phone_region`: the connector's users are Russian-speaking shops
on Bitrix24. Kazakhstan shares +7, so `8 701 ...` reads right under RU too."""
CACHE_SIZE = 65536
_FORMATTING = str.maketrans("", "", " -().\u00a0\t/")
_E164 = phonenumbers.PhoneNumberFormat.E164


class PhoneError(ValueError):
    """Not a phone number, or not a possible one."""


def _fast_international(text: str) -> str | None:
    """`+<digits>` -> E.164 when the country code and length are plainly right; None = unsure."""
    compact = text.translate(_FORMATTING)
    digits = compact[1:]
    if not compact.startswith("+") or not digits.isascii() or not digits.isdigit():
        return None
    if digits.startswith("0") or len(digits) > 17:
        return None  # no country code starts with 0; the parser reports the odd ones
    for size in (1, 2, 3):
        code = int(digits[:size])
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions:
            break
    else:
        return None
    national = digits[size:]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
    if metadata is None or not national:
        return None
    prefix = metadata.national_prefix_for_parsing or metadata.national_prefix
    if prefix is not None and not prefix.isdigit():
        return None  # a pattern, not a plain prefix: let the parser decide
    if prefix and national.startswith(prefix):
        return None  # "+44 (0)20 ...": the parser strips the prefix
    number = PhoneNumber(country_code=code, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros:
        number.italian_leading_zero = True
        number.number_of_leading_zeros = zeros if zeros > 1 else None
    if not phonenumbers.is_possible_number(number):
        return None
    return "+" + digits


def region_of(country: object) -> str | None:
    """A record's country (`'ru'`, `' KZ '`) as a region libphonenumber knows, else None."""
    if not isinstance(country, str):
        return None
    code = country.strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def configured_region(mappings_dir: str | os.PathLike[str]) -> str:
    """The `phone_region` of `<mappings_dir>/defaults.yaml`, else `DEFAULT_REGION`."""
    try:
        with open(os.path.join(mappings_dir, "defaults.yaml"), encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return DEFAULT_REGION
    defaults = data.get("defaults") if isinstance(data, dict) else None
    region = defaults.get("phone_region") if isinstance(defaults, dict) else None
    return str(region).upper() if region else DEFAULT_REGION


def normaliser(region: str) -> Callable[[str], str]:
    """Returns text -> E.164 for numbers written without `+` in `region`; raises PhoneError."""

    def slow(text: str) -> str:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise PhoneError(f"not a phone number: {text!r}") from None
        if not phonenumbers.is_possible_number(number):
            raise PhoneError(f"not a possible phone number in {region}: {text!r}")
        return phonenumbers.format_number(number, _E164)

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def normalise(text: str) -> str:
        if text.startswith("00"):
            text = "+" + text[2:]
        if text.startswith("+"):
            fast = _fast_international(text)
            if fast is not None:
                return fast
        return slow(text)

    return normalise
