"""The customer's own time zone, for quiet hours: from her phone number where it names one zone
(`phonenumbers.timezone`), else the default zone (`CONNECTOR_CASCADES_TIME_ZONE`).

A number whose region spans several zones (a Russian mobile names sixteen) uses the default
zone: the shop's own zone is a better guess than any one of them.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from connector.errors import ConfigError


@functools.lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """The zone called `name` (ConfigError naming the setting when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"CONNECTOR_CASCADES_TIME_ZONE: unknown time zone {name!r} (an IANA name such as "
            "Europe/Moscow)"
        ) from None


def zones_of_phone(phone: str | None) -> tuple[str, ...]:
    """The zones the number's region spans (empty when unknown or not a number)."""
    if not phone:
        return ()
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    found = phone_zones.time_zones_for_number(number)
    return tuple(z for z in found if z != phone_zones.UNKNOWN_TIMEZONE)


def zone_of(phone: str | None, default: str) -> dt.tzinfo:
    """Her zone: the number's only one, else the default."""
    found = zones_of_phone(phone)
    return zone(found[0] if len(found) == 1 else default)
