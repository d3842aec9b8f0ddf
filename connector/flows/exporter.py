"""One skeleton for every push of a hub record to a system (the OCA connector's Exporter).

Every push does the same five things: read the hub's record, look up its link in the target
system, map it and decide to create or update, record the write (audit), and save the link with
the fingerprint of what the system now holds. `Exporter.run` does them in that order; a system's
exporter supplies only what differs, in `plan`:

    class ShopOrderExporter(Exporter):
        system, entity = "shop", "order"

        def plan(self, push: Push) -> Plan | None:
            ...     # push.record mapped, compared with push.link; reads of the system allowed
            return Plan(
                writes=[Write("shop", "order", "update", shop_id, call=send, detail=...)],
                external_id=shop_id,
                fingerprint=order_fingerprint(now_held),
                data={"seen": now_held},
            )

`plan` never writes to the system: a write is a `Write` command (its system, entity, action,
target id and a `call(client)`), and an executor runs the commands. `run_inline` runs them one
by one with the process's client, as every push did by hand before; because the commands are
values, a later executor can gather the commands of many running tasks into one batched call per
system (Bitrix24 `batch`, Mailchimp `/batches`) and hand each its result. A write whose result
is the new record's id (`creates=True`) gives the link its external id. A plan whose link state
depends on what the system answered (the record as written: its fingerprint and modification
time, or a detail of the audit) says so with `settle(plan, results)`, called with the writes'
results before they are audited and the link is saved. The audit rows, the link and `linked`
(an exporter's own bookkeeping, such as waking the tasks that waited for the link) share one
store transaction. `after` runs
follow-up work once the record is written and linked (the Mailchimp order push closes the
buyer's carts). The link is the record's own in the target system by default; an exporter that
remembers its writes elsewhere says where with `link_system` (a shipment's pushes keep what they
told the CRM and the shop on the shipment's link, whose system is the carrier).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from connector.audit import record_write
from connector.flows.hub import load_snapshot
from connector.identity import link_of, save_link
from connector.tasks import TaskContext


@dataclass
class Write:
    """One write to one system, as a value: `call(client)` performs it."""

    system: str
    entity: str  # the system's own name of the record (contact, member, order)
    action: str  # add, update, upsert, event: as the audit log records it
    external_id: str | None
    call: Callable[[Any], Any]
    detail: Mapping[str, Any] | None = None
    creates: bool = False  # the call returns the new record's id
    audit: bool = True  # recorded in the audit log (connector.audit.record_write)


@dataclass
class Plan:
    """What one push does: its writes, then the link it saves (unless `save_link` is False)."""

    writes: list[Write] = field(default_factory=list)
    external_id: str | None = None
    fingerprint: str | None = None
    data: dict[str, Any] | None = None
    save_link: bool = True
    version: str | None = None
    # f(plan, results of the writes): sets the link state from what the system answered
    settle: Callable[[Plan, list[Any]], None] | None = None
    # what the exporter's `linked` and `after` need from its `plan`; never saved
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Push:
    """One run of a push task: what `plan` decides from."""

    ctx: TaskContext
    payload: Mapping[str, Any]
    canonical_id: str
    record: dict[str, Any]
    link: Any  # the record's link in the target system (connector.identity.Link), or None


Executor = Callable[[TaskContext, list[Write]], list[Any]]


def audit_write(connection: Connection, write: Write, canonical_id: str, task_id: int) -> None:
    """Records a write that was made in the audit log, unless it asks not to be (`audit`)."""
    if write.audit:
        record_write(
            connection,
            system=write.system,
            entity=write.entity,
            action=write.action,
            external_id=write.external_id,
            canonical_id=canonical_id,
            task_id=task_id,
            detail=dict(write.detail) if write.detail is not None else None,
        )


def run_inline(ctx: TaskContext, writes: list[Write]) -> list[Any]:
    """Runs each write now, in order, with the process's client of its system."""
    return [write.call(ctx.services.client(write.system)) for write in writes]


class Exporter:
    """Pushes one canonical record (`entity`, e.g. customer) to one system (`system`)."""

    system: str = ""
    entity: str = ""
    id_field: str = "id"  # the payload field holding the canonical id

    def __init__(self, executor: Executor = run_inline) -> None:
        self.executor = executor

    # -- what a system supplies ---------------------------------------------------------

    def canonical_id(self, payload: Mapping[str, Any]) -> str:
        return str(payload[self.id_field])

    def load(self, ctx: TaskContext, canonical_id: str) -> dict[str, Any] | None:
        """The hub's record; None ends the push quietly (a record never made or gone)."""
        return load_snapshot(ctx.services.engine, self.entity, canonical_id)

    def link_system(self, payload: Mapping[str, Any]) -> str:
        """The system of the link the push reads and saves (the target system by default)."""
        return self.system

    def plan(self, push: Push) -> Plan | None:
        """The writes and the link to save; None when there is nothing to do."""
        raise NotImplementedError

    def linked(self, connection: Connection, push: Push, plan: Plan) -> None:
        """Bookkeeping of the writes, in the transaction that audits them and saves the link
        (so it is durable with them): e.g. wake the tasks that waited for the link."""

    def after(self, push: Push, plan: Plan) -> None:
        """Follow-up work once the record is written and linked (e.g. close the buyer's carts)."""

    # -- the skeleton -------------------------------------------------------------------

    def __call__(self, ctx: TaskContext, payload: dict[str, Any]) -> None:
        """The task handler: `push.<system>.<entity>`."""
        self.run(ctx, payload)

    def run(self, ctx: TaskContext, payload: Mapping[str, Any]) -> None:
        engine = ctx.services.engine
        canonical_id = self.canonical_id(payload)
        record = self.load(ctx, canonical_id)
        if record is None:
            return
        link_system = self.link_system(payload)
        link = link_of(engine, self.entity, canonical_id, link_system)
        push = Push(ctx, payload, canonical_id, record, link)
        plan = self.plan(push)
        if plan is None:
            return
        results = self.executor(ctx, plan.writes) if plan.writes else []
        if plan.settle is not None:
            plan.settle(plan, results)
        for write, result in zip(plan.writes, results, strict=True):
            if write.creates:
                write.external_id = str(result)
                plan.external_id = plan.external_id or write.external_id
        # the audit rows, the link and the exporter's own bookkeeping: one store transaction
        with engine.begin() as connection:
            for write in plan.writes:
                audit_write(connection, write, canonical_id, ctx.task.id)
            if plan.save_link and plan.external_id is not None:
                extra: dict[str, Any] = {}
                if plan.fingerprint is not None:
                    extra["fingerprint"] = plan.fingerprint
                if plan.version is not None:
                    extra["version"] = plan.version
                if plan.data is not None:
                    extra["data"] = plan.data
                save_link(
                    connection, self.entity, canonical_id, link_system, plan.external_id, **extra
                )
            self.linked(connection, push, plan)
        self.after(push, plan)
