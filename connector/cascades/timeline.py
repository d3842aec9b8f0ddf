"""A converted run on the CRM timeline: one Bitrix24 comment on the deal of the order that
converted it (or on the customer's contact when the order has no deal), saying which scenario
and which step brought her back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from connector.audit import record_write, writes
from connector.cascades.rules import rules_for
from connector.flows.hub import load_snapshot, skip, wait_for_dependency
from connector.identity import link_of
from connector.store import reading
from connector.store.tables import cascade_runs, cascade_sends
from connector.tasks import TaskContext


def timeline_text(run: Any, title: str, channel: str | None, order: dict[str, Any]) -> str:
    """`Cascade "Abandoned cart" converted: order 1042 after step 1 (mailchimp)`."""
    number = order.get("number") or run.converted_ref or "-"
    step = "" if run.converted_step is None else f" after step {int(run.converted_step) + 1}"
    via = f" ({channel})" if channel else ""
    return f'Cascade "{title}" converted: order {number}{step}{via}'


def push_timeline(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.bitrix24.cascade` {run_id}: the conversion's comment, written once."""
    engine, run_id = ctx.services.engine, int(payload["run_id"])
    mark = str(run_id)
    if writes(engine, system="bitrix24", entity="cascade", external_id=mark):
        return
    with reading(engine) as connection:
        run = connection.execute(select(cascade_runs).where(cascade_runs.c.id == run_id)).first()
        channel = None
        if run is not None and run.converted_step is not None:
            channel = connection.execute(
                select(cascade_sends.c.channel).where(
                    cascade_sends.c.run_id == run_id,
                    cascade_sends.c.step == run.converted_step,
                )
            ).scalar()
    if run is None:
        return
    scenario = rules_for(ctx.services.settings).get(run.scenario)
    title = scenario.title if scenario else run.scenario
    order = load_snapshot(engine, "order", run.converted_ref) if run.converted_ref else None
    deal = link_of(engine, "order", run.converted_ref, "bitrix24") if run.converted_ref else None
    if deal is not None:
        entity, target = "deal", int(deal.external_id)
    else:
        if run.converted_ref and order is not None:
            wait_for_dependency(ctx, f"the deal of order {run.converted_ref}")
        contact = link_of(engine, "customer", run.customer_id, "bitrix24")
        if contact is None:
            skip("cascade timeline", "no deal and no contact in the CRM", run=run_id)
            return
        entity, target = "contact", int(contact.external_id)
    text = timeline_text(run, title, channel, order or {})
    comment = ctx.services.bitrix24.add_timeline_comment(entity, target, text)
    record_write(
        engine,
        system="bitrix24",
        entity="cascade",
        action="comment",
        external_id=mark,
        canonical_id=run.customer_id,
        task_id=ctx.task.id,
        detail={"on": f"{entity}:{target}", "comment": comment, "text": text},
    )
