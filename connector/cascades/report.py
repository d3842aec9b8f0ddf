"""What the cascades did, per scenario: how many customers entered, how many messages each step
sent (per channel), skipped (per reason), got delivered, how many runs converted and after
which step, the conversion rate and the median time to convert, and why the others stopped.

Read from the store's `cascade_runs` and `cascade_sends` in a few grouped queries over every
scenario at once (never a loop over runs), so a report over 100,000 runs costs a handful of
index scans. `connector cascades report` prints `render(...)`; the console's Cascades page shows
the same figures as a funnel.

Steps are counted from 0 in the store (`cascade_runs.step`, `cascade_sends.step`) and shown
from 1 ("step 1" is the first message).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select, true

from connector.errors import ConfigError
from connector.store import reading
from connector.store.tables import cascade_runs, cascade_sends

BAR_WIDTH = 40
DELIVERED = ("delivered", "read")
_PERIOD = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def period_seconds(text: str, option: str = "--since") -> float:
    """`30m`, `12h`, `7d`, `2w` in seconds; a ConfigError naming `option` otherwise."""
    found = _PERIOD.match(text or "")
    if found is None or int(found.group(1)) == 0:
        raise ConfigError(
            f"{option}: {text!r} is no period; write a number and a unit, e.g. 30m, 12h, 7d, 2w"
        )
    return int(found.group(1)) * _UNITS[found.group(2)]


@dataclass
class StepFigures:
    """One step of one scenario: what its send rows say."""

    step: int  # from 0, as stored
    sent: int = 0  # messages the provider took (state sent)
    channels: dict[str, int] = field(default_factory=dict)  # sent, per channel
    skipped: dict[str, int] = field(default_factory=dict)  # per reason
    failed: int = 0
    unknown: int = 0  # reserved, then the worker died: never sent twice
    delivered: int = 0  # status delivered or read
    converted: int = 0  # runs converted with this step as the last one sent

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step + 1,
            "sent": self.sent,
            "channels": dict(sorted(self.channels.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "failed": self.failed,
            "unknown": self.unknown,
            "delivered": self.delivered,
            "converted": self.converted,
        }


@dataclass
class ScenarioReport:
    """One scenario's runs (started in the period) and their sends."""

    scenario: str
    entered: int = 0
    running: int = 0
    converted: int = 0
    finished: int = 0
    stopped: dict[str, int] = field(default_factory=dict)  # per reason
    steps: list[StepFigures] = field(default_factory=list)
    converted_before_any_send: int = 0  # bought before the first message went
    median_seconds_to_convert: float | None = None

    @property
    def stopped_total(self) -> int:
        return sum(self.stopped.values())

    @property
    def conversion_rate(self) -> float:
        """Converted runs per entered run, 0..1."""
        return self.converted / self.entered if self.entered else 0.0

    def step(self, index: int) -> StepFigures:
        while len(self.steps) <= index:
            self.steps.append(StepFigures(len(self.steps)))
        return self.steps[index]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "entered": self.entered,
            "running": self.running,
            "converted": self.converted,
            "finished": self.finished,
            "stopped": dict(sorted(self.stopped.items())),
            "conversion_rate": round(self.conversion_rate, 4),
            "median_seconds_to_convert": self.median_seconds_to_convert,
            "converted_before_any_send": self.converted_before_any_send,
            "steps": [step.as_dict() for step in self.steps],
        }


def declared(settings: Any, systems: Any = None) -> dict[str, int]:
    """Scenario name -> number of steps, from mappings/cascades.yaml; empty while the file is
    missing or being fixed (the report then lists the scenarios that have runs)."""
    from connector.cascades.rules import rules_for
    from connector.errors import ConnectorError

    try:
        rules = rules_for(settings, systems)
    except ConnectorError:
        return {}
    return {name: len(scenario.steps) for name, scenario in rules.scenarios.items()}


def report(
    engine: Engine,
    since: float | None = None,
    scenario: str | None = None,
    declared: Mapping[str, int] | None = None,
) -> list[ScenarioReport]:
    """Every scenario's figures over the runs started at or after `since` (all runs when None),
    by name; only `scenario` when given. `declared` (scenario name -> number of steps, from
    mappings/cascades.yaml) lists scenarios nobody entered yet and steps nothing was sent on."""
    reports: dict[str, ScenarioReport] = {}
    for name, count in (declared or {}).items():
        if scenario is None or name == scenario:
            found = reports.setdefault(name, ScenarioReport(name))
            if count:
                found.step(count - 1)
    runs = cascade_runs
    where = []
    if since is not None:
        where.append(runs.c.started_at >= since)
    if scenario is not None:
        where.append(runs.c.scenario == scenario)
    with reading(engine) as connection:
        _count_runs(connection, where, reports)
        _count_stops(connection, where, reports)
        _count_sends(connection, where, reports)
        for found in reports.values():
            if found.converted:
                found.median_seconds_to_convert = _median_to_convert(
                    connection, where, found.scenario, found.converted
                )
    return [reports[name] for name in sorted(reports)]


def _count_runs(
    connection: Connection, where: list[Any], reports: dict[str, ScenarioReport]
) -> None:
    runs = cascade_runs
    rows = connection.execute(
        select(runs.c.scenario, runs.c.state, runs.c.converted_step, func.count())
        .where(and_(true(), *where))
        .group_by(runs.c.scenario, runs.c.state, runs.c.converted_step)
    )
    for name, state, converted_step, count in rows:
        found = reports.setdefault(name, ScenarioReport(name))
        found.entered += count
        if state == "running":
            found.running += count
        elif state == "finished":
            found.finished += count
        elif state == "converted":
            found.converted += count
            if converted_step is None or converted_step < 0:
                found.converted_before_any_send += count
            else:
                found.step(converted_step).converted += count


def _count_stops(
    connection: Connection, where: list[Any], reports: dict[str, ScenarioReport]
) -> None:
    runs = cascade_runs
    rows = connection.execute(
        select(runs.c.scenario, runs.c.stop_reason, func.count())
        .where(and_(runs.c.state == "stopped", *where))
        .group_by(runs.c.scenario, runs.c.stop_reason)
    )
    for name, reason, count in rows:
        stopped = reports[name].stopped
        key = reason or "-"
        stopped[key] = stopped.get(key, 0) + count


def _count_sends(
    connection: Connection, where: list[Any], reports: dict[str, ScenarioReport]
) -> None:
    runs, sends = cascade_runs, cascade_sends
    delivered = func.sum(case((sends.c.status.in_(DELIVERED), 1), else_=0))
    rows = connection.execute(
        select(
            runs.c.scenario,
            sends.c.step,
            sends.c.channel,
            sends.c.state,
            sends.c.reason,
            func.count(),
            delivered,
        )
        .select_from(sends.join(runs, runs.c.id == sends.c.run_id))
        .where(and_(true(), *where))
        .group_by(runs.c.scenario, sends.c.step, sends.c.channel, sends.c.state, sends.c.reason)
    )
    for name, step, channel, state, reason, count, delivered_count in rows:
        figures = reports[name].step(step)
        figures.delivered += int(delivered_count or 0)
        if state == "sent":
            figures.sent += count
            figures.channels[channel] = figures.channels.get(channel, 0) + count
        elif state == "skipped":
            key = reason or "-"
            figures.skipped[key] = figures.skipped.get(key, 0) + count
        elif state == "failed":
            figures.failed += count
        elif state == "unknown":
            figures.unknown += count
        # `reserved`: the provider is being called right now; counted once it answers


def _median_to_convert(
    connection: Connection, where: list[Any], name: str, count: int
) -> float | None:
    """The middle of the converted runs' times from start to conversion: one ordered read of
    the middle row (or two) through ix_cascade_runs_scenario, not a fetch of every run."""
    runs = cascade_runs
    took = (runs.c.ended_at - runs.c.started_at).label("took")
    middle = list(
        connection.scalars(
            select(took)
            .where(
                and_(
                    runs.c.scenario == name,
                    runs.c.state == "converted",
                    runs.c.ended_at.is_not(None),
                    *where,
                )
            )
            .order_by(took)
            .offset((count - 1) // 2)
            .limit(1 if count % 2 else 2)
        )
    )
    if not middle:
        return None
    return float(sum(middle)) / len(middle)


# -- the terminal ---------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """`45 s`, `12 min`, `5 h 12 min`, `3 d 4 h`; `-` for None."""
    if seconds is None:
        return "-"
    whole = max(0, int(round(seconds)))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        hours, minutes = divmod(whole // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(whole // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def funnel(found: ScenarioReport) -> list[tuple[str, int]]:
    """The funnel's bars: entered, sent at each step, converted."""
    bars = [("entered", found.entered)]
    bars += [(f"step {step.step + 1} sent", step.sent) for step in found.steps]
    bars.append(("converted", found.converted))
    return bars


def _counts(items: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(items.items())) or "-"


def render(reports: Sequence[ScenarioReport], since: float | None = None) -> str:
    """The report as text: per scenario a summary line, a table of its steps and a funnel."""
    if not reports:
        return "no cascade runs yet"
    period = (
        "since " + dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if since is not None
        else "all runs"
    )
    lines: list[str] = []
    for found in reports:
        if lines:
            lines.append("")
        lines.append(f"scenario {found.scenario} ({period})")
        lines.append(
            f"entered {found.entered} · converted {found.converted} "
            f"({100 * found.conversion_rate:.1f}%) · median time to convert "
            f"{duration(found.median_seconds_to_convert)} · running {found.running} · "
            f"finished {found.finished} · stopped {found.stopped_total}"
        )
        lines.extend(_step_table(found.steps))
        if found.converted_before_any_send:
            lines.append(f"converted before any message: {found.converted_before_any_send}")
        if found.stopped:
            lines.append(f"stopped: {_counts(found.stopped)}")
        bars = funnel(found)
        most = max(count for _, count in bars) or 1
        width = max(len(label) for label, _ in bars)
        digits = max(len(str(count)) for _, count in bars)
        for label, count in bars:
            bar = "█" * round(BAR_WIDTH * count / most) if count else ""
            lines.append(f"  {label:<{width}}  {count:>{digits}}  {bar}".rstrip())
    return "\n".join(lines)


def _step_table(steps: Iterable[StepFigures]) -> list[str]:
    header = ("step", "sent", "delivered", "converted", "failed", "unknown", "skipped", "channels")
    rows = [
        (
            str(step.step + 1),
            str(step.sent),
            str(step.delivered),
            str(step.converted),
            str(step.failed),
            str(step.unknown),
            _counts(step.skipped),
            _counts(step.channels),
        )
        for step in steps
    ]
    if not rows:
        return []
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if 0 < i < 6 else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append("  ".join(cells).rstrip())
    return out
