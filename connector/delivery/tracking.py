"""Where parcel statuses come from besides the carriers' own webhooks: the polls.

A carrier that pushes statuses (CDEK) handles its webhook task in its own package and hands each
confirmed status to `apply_observation`; carriers never re-send a lost webhook, and some have no
push at all (Nova Poshta 2.0), so each carrier also declares a poll task, `poll_task(name)`,
that reads every parcel of that carrier not in a final state (`Carrier.observe`) and applies
what changed. A status the carrier's mapping cannot read fails the task after the others were
applied, so an admin sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.delivery.carriers import carrier
from connector.delivery.rules import rules_for
from connector.delivery.shipments import apply_observation, open_shipments
from connector.errors import MappingError
from connector.flows.hub import skip
from connector.tasks import Handler, TaskContext

log = logging.getLogger("connector.delivery")


def poll_kind(name: str) -> str:
    """The task kind of a carrier's poll (`delivery.poll_cdek`)."""
    return f"delivery.poll_{name}"


def poll(ctx: TaskContext, name: str) -> None:
    """Reads each open parcel of carrier `name` and applies what changed."""
    services = ctx.services
    if not services.enabled(name):
        return
    chosen, rules = carrier(services, name), rules_for(services)
    waiting = list(open_shipments(services.engine, name, rules.final_states))
    unmapped: list[str] = []
    for link, seen in chosen.observe(services, waiting) if waiting else ():
        if isinstance(seen, MappingError):
            unmapped.append(f"{link.canonical_id}: {seen}")
            continue
        outcome = apply_observation(services, link.canonical_id, name, seen)
        if not outcome.applied:
            skip(f"{name} poll", outcome.reason, order=link.canonical_id, code=seen.carrier_status)
    _report_unmapped(unmapped)


def poll_task(name: str) -> Handler:
    """The handler of `poll_kind(name)`, for the carrier's `task_handlers`."""

    def handler(ctx: TaskContext, payload: dict[str, Any]) -> None:
        poll(ctx, name)

    handler.__name__ = handler.__qualname__ = f"poll_{name}"
    return handler


def _report_unmapped(problems: list[str]) -> None:
    """The other parcels were applied; the unmapped statuses fail the task so an admin sees them."""
    if problems:
        raise MappingError("carrier statuses without a mapping: " + "; ".join(problems))
