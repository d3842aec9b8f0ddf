"""Keeps every customer's figures current, two ways, and records segment transitions.

- **Order event** (`order_changed`, called by the order flow inside its transaction): the order's
  contribution is upserted into `analytics_orders` and that customer's figures are recomputed
  from their rows (one indexed, grouped query), so the figures change with the order at once.
- **Nightly** (`recompute_all`, task `analytics.recompute`): recency changes with time alone, so
  everyone is recomputed: quintile thresholds and the BG/NBD model are found in SQL-grouped
  passes, then one grouped query streams every customer's contributions, merged with the stored
  figures (both ordered by customer), and only changed rows are written, in chunks. Memory stays
  flat in the number of customers.

Either way only what changed is pushed: a change of the published values queues the figure
pushes (coalesced per customer for order events, in batches of 50 for the nightly run); entering
a segment is a `segment_transitions` row and a Mailchimp member event, and the push moves the
member's segment tag.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector import keys
from connector.analytics.bgnbd import WEEK, BetaGeo, fit
from connector.analytics.figures import (
    COLUMNS,
    DAY,
    Summary,
    Thresholds,
    compute,
    order_fact,
    public,
)
from connector.analytics.rules import AnalyticsRules, rules_for, slug
from connector.errors import MappingsUnusable
from connector.store import reading
from connector.store.raw import (
    RawSQL,
    from_json,
    insert_into,
    read_rows,
    run_returning,
    select_column,
    select_rows,
    update_where,
)
from connector.store.tables import (
    analytics_orders,
    analytics_runs,
    customer_figures,
    segment_transitions,
)

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.analytics")

PUSH_BITRIX24 = "push.bitrix24.figures"
PUSH_MAILCHIMP = "push.mailchimp.figures"
MEMBER_EVENT = "push.mailchimp.event"
BATCH = 50  # Bitrix24 runs at most 50 commands in one `batch` call
CHUNK = 2000  # customers written per transaction in the nightly run

# The statements of the order-event path, in plain SQL on the transaction's cursor
# (connector/store/raw.py): they run inside every order's write, where SQLAlchemy's execution
# path cost more Python than SQLite takes to run them.
_ORDER_VALUES = ("customer_id", "ordered_at", "amount", "counts", "channel", "category")
_OWNER = RawSQL("SELECT customer_id FROM analytics_orders WHERE order_id = ?")
_ADD_ORDER = insert_into("analytics_orders", ("order_id", *_ORDER_VALUES, "updated_at"))
_CHANGE_ORDER = update_where("analytics_orders", (*_ORDER_VALUES, "updated_at"), ("order_id",))
_ONE_SUMMARY = RawSQL(
    "SELECT channel, category, COUNT(*), SUM(amount), MIN(ordered_at), MAX(ordered_at)"
    " FROM analytics_orders WHERE customer_id = ? AND counts = 1 AND ordered_at >= ?"
    " GROUP BY channel, category"
)
_FIGURE_COLUMNS = tuple(column.name for column in customer_figures.c)
_FIGURES = RawSQL(
    f"SELECT {', '.join(_FIGURE_COLUMNS)} FROM customer_figures WHERE customer_id = ?"
)
_TASK_OF_KEY = RawSQL("SELECT id FROM tasks WHERE dedupe_key = ?")
_LATEST_RUN = RawSQL(
    "SELECT cutoffs, model FROM analytics_runs WHERE finished_at IS NOT NULL"
    " ORDER BY id DESC LIMIT 1"
)


def _write_figures(connection: Connection, cid: str, row: dict[str, Any], new: bool) -> None:
    """Inserts a customer's figures row, or updates the columns `row` names."""
    names = [name for name in row if name != "customer_id"]
    for name in names:
        if name not in _FIGURE_COLUMNS or name == "published":  # never written here
            raise ValueError(f"customer_figures: {name!r} is not a figure column")
    values = [row[name] for name in names]
    if new:
        insert = insert_into("customer_figures", ("customer_id", *names))
        run_returning(connection, insert, [cid, *values])
    else:
        update = update_where("customer_figures", tuple(names), ("customer_id",))
        run_returning(connection, update, [*values, cid])


def _now(services: Services) -> float:
    return services.queue.clock()


def _since(rules: AnalyticsRules, now: float) -> float:
    return now - rules.lookback_days * DAY if rules.lookback_days else -math.inf


# --------------------------------------------------------------------------- thresholds


def latest_thresholds(target: Engine | Connection, rules: AnalyticsRules) -> Thresholds:
    """The quintile cut-offs and model of the last nightly run (none before the first)."""
    found = read_rows(target, _LATEST_RUN, ())
    if not found:
        return Thresholds()
    cutoffs, model = (from_json(value) for value in found[0])
    cutoffs = cutoffs or {}
    return Thresholds(
        recency=tuple(cutoffs.get("recency") or ()),
        frequency=tuple(cutoffs.get("frequency") or ()),
        monetary=tuple(cutoffs.get("monetary") or ()),
        model=BetaGeo.from_dict(model),
    )


def _per_customer(since: float) -> Any:
    ao = analytics_orders
    return (
        select(
            ao.c.customer_id,
            func.count().label("orders"),
            func.sum(ao.c.amount).label("revenue"),
            func.min(ao.c.ordered_at).label("first"),
            func.max(ao.c.ordered_at).label("last"),
        )
        .where(ao.c.counts == 1, ao.c.ordered_at >= since)
        .group_by(ao.c.customer_id)
        .subquery("per_customer")
    )


def quintiles(
    connection: Connection, since: float, rules: AnalyticsRules
) -> dict[str, tuple[float, ...]]:
    """Four ascending cut-offs of last-order time, order count or revenue, found in SQL, for
    each score the rules give by quantiles (the others: none)."""
    per = _per_customer(since)
    found: dict[str, tuple[float, ...]] = {"recency": (), "frequency": (), "monetary": ()}
    for name, column in (("recency", per.c.last), ("frequency", per.c.orders),
                         ("monetary", per.c.revenue)):  # fmt: skip
        if not getattr(rules, name).quantiles:
            continue
        bucket = func.ntile(5).over(order_by=column).label("bucket")
        ranked = select(column.label("value"), bucket).subquery("ranked")
        rows = connection.execute(
            select(ranked.c.bucket, func.max(ranked.c.value))
            .group_by(ranked.c.bucket)
            .order_by(ranked.c.bucket)
        ).all()
        cuts = [float(value) for bucket, value in rows if bucket < 5]
        if name == "monetary":
            cuts = [c / 100 for c in cuts]  # scored in money, stored in hundredths
        found[name] = tuple(cuts) if len(cuts) == 4 else ()
    return found


def fit_model(
    connection: Connection, rules: AnalyticsRules, since: float, now: float
) -> BetaGeo | None:
    """BG/NBD fitted on (x, t_x, T) in whole days, grouped in SQL: the rows sent to the
    optimiser are bounded by the distinct histories, not by the number of customers."""
    per = _per_customer(since)
    x = (per.c.orders - 1).label("x")
    t_x = func.round((per.c.last - per.c.first) / DAY).label("t_x")
    age = func.round((now - per.c.first) / DAY).label("age")
    grouped = connection.execute(select(x, t_x, age, func.count()).group_by(x, t_x, age)).all()
    if not grouped:
        return None
    data = np.array([[float(v) for v in row] for row in grouped])
    repeaters = int(data[data[:, 0] > 0, 3].sum())
    if repeaters < rules.min_repeat_customers:
        return None
    days = DAY / WEEK
    model = fit(
        data[:, 0], data[:, 1] * days, np.maximum(data[:, 2], data[:, 1]) * days, data[:, 3]
    )
    if not all(math.isfinite(v) for v in (model.r, model.alpha, model.a, model.b)):
        return None
    return model


# --------------------------------------------------------------------------- one customer


@dataclass
class Outcome:
    """What one recompute of one customer did."""

    changed: bool = False
    transition: bool = False  # a segment transition was recorded
    publish: bool = False  # the published values changed


def _summary(connection: Connection, cid: str, since: float) -> Summary:
    summary = Summary(cid)
    for row in select_rows(connection, _ONE_SUMMARY, (cid, since)):
        summary.add(*row)
    return summary


def order_changed(
    connection: Connection, services: Services, order: Mapping[str, Any]
) -> Outcome | None:
    """The order flow's one call: records what the order contributes and recomputes its buyer
    (and a former buyer it moved from), inside the flow's transaction. While the admin's
    rules file is invalid the order flow goes on without it (`connector analytics recompute
    --rebuild` catches up after the fix)."""
    try:
        rules = rules_for(services.settings)
    except MappingsUnusable as error:
        log.warning("analytics skipped for order %s: %s", order.get("id"), error)
        return None
    now = _now(services)
    fact = order_fact(order, rules, now)
    if fact is None:
        return None
    owners = select_column(connection, _OWNER, (fact.order_id,))
    before = owners[0] if owners else None
    values = (
        fact.customer_id,
        fact.ordered_at,
        fact.amount,
        int(fact.counts),
        fact.channel,
        fact.category,
        now,
    )
    if not owners:
        run_returning(connection, _ADD_ORDER, (fact.order_id, *values))
    else:
        run_returning(connection, _CHANGE_ORDER, (*values, fact.order_id))
    thresholds = latest_thresholds(connection, rules)
    if before is not None and before != fact.customer_id:
        refresh(connection, services, before, rules, now, thresholds, "order")
    return refresh(connection, services, fact.customer_id, rules, now, thresholds, "order")


def refresh(
    connection: Connection,
    services: Services,
    cid: str,
    rules: AnalyticsRules,
    now: float,
    thresholds: Thresholds,
    cause: str,
) -> Outcome:
    """Recomputes one customer from their contributions and applies the result."""
    summary = _summary(connection, cid, _since(rules, now))
    found = select_rows(connection, _FIGURES, (cid,))
    old = dict(zip(_FIGURE_COLUMNS, found[0], strict=True)) if found else None
    if old is not None:
        old["published"] = from_json(old["published"])
    new = compute(summary, rules, now, thresholds)
    outcome, row = _decide(cid, new, old, now, cause)
    if not outcome.changed:
        return outcome
    transition = row.pop("_transition", None)
    _write_figures(connection, cid, row, new=old is None)
    if transition is not None:
        record_transitions(connection, services, rules, [transition])
        outcome.transition = True
    if outcome.publish:
        _queue_pushes(connection, services, rules, cid, now)
    return outcome


def _decide(
    cid: str, new: dict[str, Any], old: dict[str, Any] | None, now: float, cause: str
) -> tuple[Outcome, dict[str, Any]]:
    """Compares new figures with the stored row: what to write, whether the segment changed
    (a transition) and whether what is published changed."""
    if old is None and not new["orders_count"]:
        return Outcome(), {}  # never a counted order: no row, as the nightly run writes none
    was = old.get("segment") if old else None
    since = (old or {}).get("segment_since")
    transition = None
    if new["segment"] != was:
        since = now if new["segment"] else None
        transition = {
            "customer_id": cid,
            "from_segment": was,
            "to_segment": new["segment"],
            "at": now,
            "cause": cause,
            "detail": {k: new.get(k) for k in ("r", "f", "m", "orders_count")},
        }
    row = {**new, "segment_since": since}
    outcome = Outcome()
    if old is not None and all(_same(old.get(c), row.get(c)) for c in (*COLUMNS, "segment_since")):
        return outcome, row
    outcome.changed = True
    outcome.publish = old is None or published_values(old) != published_values(row)
    row = {"customer_id": cid, **row, "updated_at": now}
    if transition is not None:
        row["_transition"] = transition
    return outcome, row


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def published_values(values: Mapping[str, Any]) -> dict[str, Any]:
    shown = public(values)
    # published as rounded figures: a daily drift of the prediction is not a change to push
    for name, places in (("p_alive", 2), ("expected_orders", 1), ("mean_days_between", 0)):
        if shown.get(name) is not None:
            shown[name] = round(float(shown[name]), places)
    return shown


def record_transitions(
    connection: Connection,
    services: Services,
    rules: AnalyticsRules,
    transitions: list[dict[str, Any]],
) -> None:
    """Records segment entries (one write) and queues their Mailchimp member events: a journey
    can start on `rfm_at_risk`. A nightly run's first segment of a customer the order flow never
    saw (history from before the feature) is recorded but sends no event."""
    if not transitions:
        return
    connection.execute(insert(segment_transitions), transitions)
    _report_to_cascades(connection, services, transitions)
    if not services.enabled("mailchimp"):
        return
    import datetime as dt

    from connector.flows.hub import push

    for item in transitions:
        segment = item["to_segment"]
        if not segment or (item["cause"] == "nightly" and not item["from_segment"]):
            continue
        at = dt.datetime.fromtimestamp(item["at"], dt.UTC)
        push(
            connection,
            services,
            MEMBER_EVENT,
            item["customer_id"],
            {
                "name": rules.event(segment),
                "properties": {"segment": segment, "from": item["from_segment"] or ""},
                "occurred_at": at.isoformat(),
            },
            dedupe_key=keys.segment_entered(item["customer_id"], slug(segment), int(item["at"])),
        )


def _report_to_cascades(
    connection: Connection, services: Services, transitions: list[dict[str, Any]]
) -> None:
    """An entry into a segment may start a cascade (a win-back of those At risk)."""
    from connector.cascades.engine import SEGMENT_ENTERED, notify

    for item in transitions:
        segment = item["to_segment"]
        if not segment or (item["cause"] == "nightly" and not item["from_segment"]):
            continue
        data = {"segment": segment, "previous": item["from_segment"], "version": int(item["at"])}
        notify(services, connection, SEGMENT_ENTERED, item["customer_id"], segment, data,
               item["at"])  # fmt: skip


def _targets(services: Services, rules: AnalyticsRules) -> list[tuple[str, str]]:
    found = []
    if rules.bitrix24 and services.enabled("bitrix24"):
        found.append(("bitrix24", PUSH_BITRIX24))
    if services.enabled("mailchimp"):
        found.append(("mailchimp", PUSH_MAILCHIMP))
    return found


def _queue_pushes(
    connection: Connection, services: Services, rules: AnalyticsRules, cid: str, now: float
) -> None:
    """One push per target system, coalesced: changes inside a bucket are one task that reads
    the figures when it runs (as the bonus balance is published)."""
    for system, kind in _targets(services, rules):
        if rules.coalesce_seconds > 0:
            bucket: Any = math.floor(now / rules.coalesce_seconds)
            run_at = (bucket + 1) * rules.coalesce_seconds
        else:
            bucket, run_at = f"{now:.6f}", now
        key = keys.figures_bucket(system, cid, bucket)
        if select_column(connection, _TASK_OF_KEY, (key,)):
            continue  # the usual case in a burst; cheaper than the queue's insert-or-ignore
        services.queue.enqueue(
            kind,
            {"ids": [cid]},
            dedupe_key=key,
            ordering_key=keys.figures(system, cid),
            run_at=run_at,
            connection=connection,
        )


# --------------------------------------------------------------------------- everyone


@dataclass
class RunReport:
    """What a nightly recompute did."""

    run_id: int
    customers: int = 0
    changed: int = 0
    transitions: int = 0
    pushes: int = 0
    seconds: float = 0.0
    model: BetaGeo | None = None
    by_segment: dict[str, int] = field(default_factory=dict)


def _grouped_stream(connection: Connection, since: float) -> Iterator[Summary]:
    ao = analytics_orders
    rows = connection.execution_options(yield_per=5000).execute(
        select(
            ao.c.customer_id,
            ao.c.channel,
            ao.c.category,
            func.count(),
            func.sum(ao.c.amount),
            func.min(ao.c.ordered_at),
            func.max(ao.c.ordered_at),
        )
        .where(ao.c.counts == 1, ao.c.ordered_at >= since)
        .group_by(ao.c.customer_id, ao.c.channel, ao.c.category)
        .order_by(ao.c.customer_id)
    )
    current: Summary | None = None
    for cid, *rest in rows:
        if current is None or current.customer_id != cid:
            if current is not None:
                yield current
            current = Summary(cid)
        current.add(*rest)
    if current is not None:
        yield current


def _stored_stream(connection: Connection) -> Iterator[dict[str, Any]]:
    rows = connection.execution_options(yield_per=5000).execute(
        select(customer_figures).order_by(customer_figures.c.customer_id)
    )
    for row in rows:
        yield row._asdict()


def _merged(
    summaries: Iterator[Summary], stored: Iterator[dict[str, Any]]
) -> Iterator[tuple[str, Summary, dict[str, Any] | None]]:
    """Both streams are ordered by customer id: a full outer join, one customer at a time."""
    summary, old = next(summaries, None), next(stored, None)
    while summary is not None or old is not None:
        if old is None or (summary is not None and summary.customer_id < old["customer_id"]):
            assert summary is not None
            yield summary.customer_id, summary, None
            summary = next(summaries, None)
        elif summary is None or old["customer_id"] < summary.customer_id:
            yield old["customer_id"], Summary(old["customer_id"]), old
            old = next(stored, None)
        else:
            yield summary.customer_id, summary, old
            summary, old = next(summaries, None), next(stored, None)


def recompute_all(services: Services, now: float | None = None, chunk: int = CHUNK) -> RunReport:
    """The nightly job: every customer recomputed, only the changed ones written and pushed."""
    rules = rules_for(services.settings)
    now = _now(services) if now is None else now
    started = time.perf_counter()
    since = _since(rules, now)
    engine = services.engine
    with reading(engine) as connection:
        cutoffs = quintiles(connection, since, rules)
        model = fit_model(connection, rules, since, now)
    thresholds = Thresholds(
        recency=cutoffs["recency"],
        frequency=cutoffs["frequency"],
        monetary=cutoffs["monetary"],
        model=model,
    )
    with engine.begin() as connection:
        run_id = int(
            connection.execute(
                insert(analytics_runs)
                .values(started_at=now, customers=0, changed=0, cutoffs=thresholds.as_dict(),
                        model=model.as_dict() if model else None)
                .returning(analytics_runs.c.id)
            ).scalar_one()
        )  # fmt: skip
    report = RunReport(run_id, model=model)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    to_push: list[str] = []
    targets = _targets(services, rules)

    def flush() -> None:
        if not (inserts or updates or transitions or to_push):
            return
        with engine.begin() as writer:
            _write_rows(writer, inserts, updates)
            record_transitions(writer, services, rules, transitions)
            report.transitions += len(transitions)
            for system, kind in targets:
                batches = [to_push[i : i + BATCH] for i in range(0, len(to_push), BATCH)]
                items = [
                    ({"ids": ids}, keys.figures_batch(system, run_id, f"{ids[0]}"), None)
                    for ids in batches
                ]
                services.queue.enqueue_many(kind, items, connection=writer)
                report.pushes += len(items)
        for pending in (inserts, updates, transitions, to_push):
            pending.clear()

    with reading(engine) as connection, reading(engine) as second:
        for cid, summary, old in _merged(
            _grouped_stream(connection, since), _stored_stream(second)
        ):
            report.customers += 1
            new = compute(summary, rules, now, thresholds)
            if new["segment"]:
                report.by_segment[new["segment"]] = report.by_segment.get(new["segment"], 0) + 1
            outcome, row = _decide(cid, new, old, now, "nightly")
            if not outcome.changed:
                if old is not None and old["published"] is None and old["segment"]:
                    to_push.append(cid)  # never written anywhere yet (not linked then): again
                continue
            report.changed += 1
            transition = row.pop("_transition", None)
            if transition is not None:
                transitions.append(transition)
            if old is None:
                inserts.append(row)
            else:
                changes = {k: v for k, v in row.items() if k != "customer_id"}
                updates.append({**changes, "_cid": cid, "_seen": old["updated_at"]})
            if outcome.publish:
                to_push.append(cid)
            if len(inserts) + len(updates) + len(to_push) >= chunk:
                flush()
        flush()
    report.seconds = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(
            update(analytics_runs)
            .where(analytics_runs.c.id == run_id)
            .values(finished_at=_now(services), customers=report.customers, changed=report.changed)
        )
    log.info(
        "analytics: %d customers, %d changed, %d transitions, %d push tasks in %.1fs",
        report.customers,
        report.changed,
        report.transitions,
        report.pushes,
        report.seconds,
    )
    return report


def _write_rows(
    connection: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> None:
    """Writes a chunk: new rows (a customer an order event added meanwhile keeps its row) and
    changed rows (only where no order event changed them since they were read)."""
    if inserts:
        dialect = connection.engine.dialect.name
        table = customer_figures
        if dialect == "sqlite":
            connection.execute(sqlite.insert(table).on_conflict_do_nothing(), inserts)
        elif dialect == "postgresql":
            connection.execute(postgresql.insert(table).on_conflict_do_nothing(), inserts)
        else:  # pragma: no cover - the store runs on SQLite or PostgreSQL
            connection.execute(insert(table), inserts)
    if updates:
        names = (*COLUMNS, "segment_since", "updated_at")
        statement = (
            update(customer_figures)
            .where(
                customer_figures.c.customer_id == bindparam("_cid"),
                customer_figures.c.updated_at == bindparam("_seen"),
            )
            .values({name: bindparam(name) for name in names})
        )
        connection.execute(statement, updates)


def segment_sizes(engine: Engine) -> list[tuple[str, int, int]]:
    """(segment, customers, revenue in hundredths) of every segment, largest first."""
    cf = customer_figures
    with reading(engine) as connection:
        rows = connection.execute(
            select(cf.c.segment, func.count(), func.coalesce(func.sum(cf.c.revenue), 0))
            .where(cf.c.segment.is_not(None))
            .group_by(cf.c.segment)
            .order_by(func.count().desc(), cf.c.segment)
        ).all()
    return [(str(s), int(n), int(revenue)) for s, n, revenue in rows]


def figures_of(engine: Engine | Connection, cid: str) -> dict[str, Any] | None:
    query = select(customer_figures).where(customer_figures.c.customer_id == cid)
    if isinstance(engine, Engine):
        with reading(engine) as connection:
            row = connection.execute(query).first()
    else:
        row = engine.execute(query).first()
    return row._asdict() if row else None


def transitions_of(engine: Engine, cid: str) -> list[dict[str, Any]]:
    st = segment_transitions
    with reading(engine) as connection:
        rows = connection.execute(select(st).where(st.c.customer_id == cid).order_by(st.c.id))
        return [row._asdict() for row in rows]


def rebuild_orders(services: Services, chunk: int = 2000) -> int:
    """Re-reads every order snapshot of the hub into `analytics_orders` (orders the connector
    knew before analytics existed, or after a change of which statuses count)."""
    from connector.flows.hub import typed
    from connector.identity import HUB
    from connector.store.tables import links

    rules = rules_for(services.settings)
    now = _now(services)
    engine = services.engine
    count = 0
    facts: list[dict[str, Any]] = []

    def flush() -> None:
        if not facts:
            return
        with engine.begin() as writer:
            ids = [f["order_id"] for f in facts]
            writer.execute(analytics_orders.delete().where(analytics_orders.c.order_id.in_(ids)))
            writer.execute(insert(analytics_orders), facts)
        facts.clear()

    with reading(engine) as connection:
        rows = connection.execution_options(yield_per=1000).execute(
            select(links.c.data).where(links.c.entity == "order", links.c.system == HUB)
        )
        for (data,) in rows:
            order = typed("order", data) if data else None
            fact = order_fact(order, rules, now) if order else None
            if fact is None:
                continue
            count += 1
            facts.append(
                {
                    "order_id": fact.order_id,
                    "customer_id": fact.customer_id,
                    "ordered_at": fact.ordered_at,
                    "amount": fact.amount,
                    "counts": int(fact.counts),
                    "channel": fact.channel,
                    "category": fact.category,
                    "updated_at": now,
                }
            )
            if len(facts) >= chunk:
                flush()
        flush()
    return count
