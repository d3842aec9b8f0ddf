"""Portal time: ISO 8601 with the portal's offset (``2024-08-15T10:38:21+03:00``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any


def portal_tz(offset_hours: int) -> timezone:
    return timezone(timedelta(hours=offset_hours))


def iso(ts: float | None, offset_hours: int) -> str | None:
    if ts is None:
        return None
    moment = datetime.fromtimestamp(int(ts), tz=portal_tz(offset_hours))
    return moment.isoformat()


def iso_date(day: date | None, offset_hours: int) -> str | None:
    """A date field (BIRTHDATE, BEGINDATE) prints as midnight in the portal's zone."""
    if day is None:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=portal_tz(offset_hours)).isoformat()


def parse_moment(value: Any, offset_hours: int) -> float | None:
    """A filter or field value as unix time; accepts ISO (offset optional) and dd.mm.yyyy."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    # a "+" of an unencoded offset arrives as a space in query strings
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2})?) (\d{2}:?\d{2})$", r"\1+\2", text)
    match = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})(?:\s+(\d{2}):(\d{2})(?::(\d{2}))?)?", text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        text = f"{year}-{month}-{day}T{hour or '00'}:{minute or '00'}:{second or '00'}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=portal_tz(offset_hours))
    return moment.astimezone(UTC).timestamp()


def parse_day(value: Any, offset_hours: int) -> date | None:
    ts = parse_moment(value, offset_hours)
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=portal_tz(offset_hours)).date()


def day_of(ts: float, offset_hours: int) -> date:
    return datetime.fromtimestamp(ts, tz=portal_tz(offset_hours)).date()
