"""A customer's cascade runs with their steps' sends, statuses and stop reasons: what
`connector trace` and the console's customer page show. Addresses are masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from connector.store.tables import cascade_runs, cascade_sends


def runs_of(connection: Connection, customer_ids: Iterable[str], limit: int = 20) -> list[dict]:
    """The newest runs of these customers, each with its sends in step order."""
    from connector.cascades.engine import masked

    wanted = list(customer_ids)
    if not wanted:
        return []
    runs = connection.execute(
        select(cascade_runs)
        .where(cascade_runs.c.customer_id.in_(wanted))
        .order_by(cascade_runs.c.started_at.desc(), cascade_runs.c.id.desc())
        .limit(limit)
    ).all()
    if not runs:
        return []
    sends: dict[int, list[dict[str, Any]]] = {}
    rows = connection.execute(
        select(cascade_sends)
        .where(cascade_sends.c.run_id.in_([run.id for run in runs]))
        .order_by(cascade_sends.c.run_id, cascade_sends.c.step)
    ).all()
    for row in rows:
        sends.setdefault(int(row.run_id), []).append(
            {
                "step": int(row.step) + 1,
                "channel": row.channel,
                "medium": row.medium,
                "state": row.state,
                "reason": row.reason,
                "address": masked(row.medium, row.address),
                "provider_id": row.provider_id,
                "status": row.status,
                "sent_at": row.sent_at,
            }
        )
    return [
        {
            "id": int(run.id),
            "scenario": run.scenario,
            "customer_id": run.customer_id,
            "state": run.state,
            "trigger": (run.trigger or {}).get("event"),
            "ref": (run.trigger or {}).get("ref"),
            "next_step": int(run.step) + 1,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "stop_reason": run.stop_reason,
            "converted_step": None if run.converted_step is None else int(run.converted_step) + 1,
            "converted_ref": run.converted_ref,
            "sends": sends.get(int(run.id), []),
        }
        for run in runs
    ]
