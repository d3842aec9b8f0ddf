"""The dry run behind `connector cascades try`: what one scenario would send one customer, when
and why, step by step, as if it were triggered now. It reads the store (her snapshot, opt-outs,
the sends her caps count, her newest cart or order for the fields) and writes nothing: no run, no
task, no send, no channel call but `address`; channel variables (a Telegram start link) are
shown as `{name}`, since making one would write a token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connector.cascades import timezones
from connector.cascades.engine import Choice, choose, context_of, masked
from connector.cascades.rules import Scenario, render
from connector.flows.hub import typed
from connector.store import reading
from connector.store.tables import links

if TYPE_CHECKING:
    from connector.services import Services


@dataclass
class Planned:
    """One step as it would go: when, by which channel, to where, what; or why not."""

    step: int
    name: str
    due: float
    local: str  # the due time in her zone, with the zone
    channel: str | None = None
    address: str | None = None
    subject: str | None = None
    text: str | None = None
    template: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    postponed: str | None = None  # why it moved (quiet hours)


def plan(
    services: Services, scenario: Scenario, customer: dict[str, Any], now: float
) -> list[Planned]:
    """Each step of `scenario` for `customer`, triggered at `now` and never stopped."""
    engine = services.engine
    records = sample_records(services, scenario, customer)
    context = context_of(records)
    zone_name = services.settings.cascades_time_zone
    due = now + scenario.trigger.after
    planned: list[Planned] = []
    for step in scenario.steps:
        due += step.delay
        choice: Choice = choose(services, engine, scenario, step, customer, due)
        phone = choice.address if choice.channel and choice.channel.medium == "sms" else None
        zone = timezones.zone_of(phone or customer.get("phone"), zone_name)
        postponed = None
        if choice.channel is not None and scenario.quiet_hours is not None:
            local = dt.datetime.fromtimestamp(due, zone)
            end = scenario.quiet_hours.end_after(local)
            if end != local:
                postponed = f"quiet hours {scenario.quiet_hours.text} (moved from {local:%H:%M})"
                due = end.timestamp()
        when = dt.datetime.fromtimestamp(due, zone)
        item = Planned(step.index + 1, step.name, due, f"{when:%Y-%m-%d %H:%M} {zone}")
        if choice.channel is None:
            item.skipped = "; ".join(choice.reasons) or "no channel"
        else:
            item.channel, item.postponed = choice.name, postponed
            item.address = masked(choice.channel.medium, choice.address)
            item.subject = render(step.subject, context, keep_missing=True)
            item.text = render(step.text, context, keep_missing=True)
            item.template = step.template
            item.variables = {
                k: render(v, context, keep_missing=True) or "" for k, v in step.variables.items()
            }
        planned.append(item)
    return planned


def sample_records(
    services: Services, scenario: Scenario, customer: dict[str, Any]
) -> dict[str, Any]:
    """The records her fields come from: her newest cart or order where the trigger has one."""
    records: dict[str, Any] = {"customer": customer, "event": {}}
    wanted = set(scenario.trigger.records)
    cid = customer.get("id")
    for entity in ("cart", "order"):
        if entity in wanted and cid:
            records[entity] = _newest(services, entity, str(cid)) or {}
    if "shipment" in wanted:
        records["shipment"] = {}
    if "segment" in wanted:
        records["segment"] = {"name": scenario.trigger.segment}
    if "bonus" in wanted:
        records["bonus"] = {}
    return records


def _newest(services: Services, entity: str, cid: str) -> dict[str, Any] | None:
    query = (
        select(links.c.data)
        .where(
            links.c.entity == entity,
            links.c.system == "hub",
            links.c.data["customer_id"].as_string() == cid,
        )
        .order_by(links.c.id.desc())
        .limit(1)
    )
    with reading(services.engine) as connection:
        data = connection.execute(query).scalar()
    return typed(entity, data) if data else None
