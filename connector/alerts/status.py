"""What `connector alerts status` and the console's alert page show: channels, incidents, sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from connector.alerts.channels import channels_from_settings, half_configured
from connector.config import Settings
from connector.store import reading
from connector.store.tables import alert_incidents, alert_sends


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    target: str  # where it sends, no secret
    last_sent_at: float | None
    owed: int  # messages waiting to be sent
    last_error: str | None  # of a message still owed


@dataclass(frozen=True)
class Incident:
    id: int
    rule: str
    subject: str
    state: str  # open | cleared | notice
    summary: str
    opened_at: float
    seen_at: float
    cleared_at: float | None
    sends: dict[str, str]  # "open/email" -> "sent" | "owed: <error>"


def channel_status(engine: Engine, settings: Settings) -> list[ChannelStatus]:
    found = []
    with reading(engine) as connection:
        for channel in channels_from_settings(settings):
            last = connection.scalar(
                select(func.max(alert_sends.c.sent_at)).where(alert_sends.c.channel == channel.name)
            )
            owed = connection.execute(
                select(alert_sends.c.last_error, alert_sends.c.created_at)
                .where(alert_sends.c.channel == channel.name, alert_sends.c.sent_at.is_(None))
                .order_by(alert_sends.c.created_at.desc())
            ).all()
            errors = [row.last_error for row in owed if row.last_error]
            found.append(
                ChannelStatus(
                    name=channel.name,
                    target=channel.describe(),
                    last_sent_at=last,
                    owed=len(owed),
                    last_error=errors[0] if errors else None,
                )
            )
    return found


def incidents(engine: Engine, *, open_only: bool = False, limit: int = 50) -> list[Incident]:
    """Open incidents first, then the most recent others (digests included)."""
    with reading(engine) as connection:
        query = select(alert_incidents).order_by(
            (alert_incidents.c.state == "open").desc(), alert_incidents.c.id.desc()
        )
        if open_only:
            query = query.where(alert_incidents.c.state == "open")
        rows = connection.execute(query.limit(limit)).mappings().all()
        ids = [row["id"] for row in rows]
        sends: dict[int, dict[str, str]] = {}
        if ids:
            for send in connection.execute(
                select(alert_sends).where(alert_sends.c.incident_id.in_(ids))
            ).mappings():
                state = (
                    "sent" if send["sent_at"] else f"owed: {send['last_error'] or 'not tried yet'}"
                )
                sends.setdefault(send["incident_id"], {})[f"{send['event']}/{send['channel']}"] = (
                    state
                )
    return [
        Incident(
            id=row["id"],
            rule=row["rule"],
            subject=row["subject"],
            state=row["state"],
            summary=row["summary"],
            opened_at=row["opened_at"],
            seen_at=row["seen_at"],
            cleared_at=row["cleared_at"],
            sends=sends.get(row["id"], {}),
        )
        for row in rows
    ]


def configuration_problems(settings: Settings) -> list[str]:
    problems = half_configured(settings)
    if not channels_from_settings(settings):
        problems.append("no channel is set: incidents are kept and shown, but sent nowhere")
    return problems


def as_dict(item: Any) -> dict[str, Any]:
    return dict(item.__dict__)
