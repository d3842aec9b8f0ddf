"""The audit trail: one row for every write the connector made to a remote system."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from connector.store import reading
from connector.store.tables import audit


def record_write(
    target: Engine | Connection,
    *,
    system: str,
    entity: str,
    action: str,
    external_id: str | None = None,
    canonical_id: str | None = None,
    task_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    statement = insert(audit).values(
        at=time.time(),
        system=system,
        entity=entity,
        action=action,
        external_id=external_id,
        canonical_id=canonical_id,
        task_id=task_id,
        detail=detail,
    )
    if isinstance(target, Connection):
        target.execute(statement)
        return
    with target.begin() as connection:
        connection.execute(statement)


def writes(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    """Audit rows matching column=value filters, oldest first."""
    query = select(audit).order_by(audit.c.id)
    for column, value in where.items():
        query = query.where(audit.c[column] == value)
    with reading(engine) as connection:
        return [dict(r) for r in connection.execute(query).mappings()]
