"""Moments as the polled systems write them, and the command line's `--since DATE`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.errors import ConnectorError


class BadDate(ConnectorError):
    """A date given on the command line (or found in a bookmark) that cannot be read."""


def utc(text: str, where: str = "date") -> datetime:
    """An ISO 8601 moment as aware UTC; one without an offset is taken as UTC already."""
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadDate(
            f"{where}: {text!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[+HH:MM])"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wc_gmt(moment: datetime) -> str:
    """WooCommerce's `*_gmt` form: UTC, whole seconds, no offset."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()


def iso(moment: datetime) -> str:
    """ISO 8601 with the UTC offset written out (what Bitrix24 filters accept)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=float(value))
