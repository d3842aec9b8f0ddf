"""What `connector trace` finds, read fast enough for a page on a big store.

`connector.sync.trace` reads every dead letter and the 5,000 newest webhook bodies in Python, and
a customer's orders through a scan of the hub's JSON: about a second on 10,000 dead letters and
100,000 customers. The console asks the store first:
- a customer's orders through the index `ix_links_customer_of` (the hub order's `customer_id`,
  migration 0007);
- dead letters and events whose text holds one of the customer's needles (email, phone in E.164
  and as digits, card, canonical ids, the ids of their records), with SQL `LIKE`; the few
  candidates are then checked exactly as `connector trace` does (`Needles.found_in`), and the
  newest few are always checked in full, so a phone written with spaces is not lost.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Text, cast, func, or_, select

from connector.queue import DEAD
from connector.store import reading
from connector.store.tables import identity_keys, inbound_events, tasks
from connector.sync.trace import (
    SCAN_EVENTS,
    SHOW_EVENTS,
    Needles,
    Trace,
    _customer,
    _orders,
    _phone_digits,
    events_with_tasks,
    matching_events,
    task_target,
)

if TYPE_CHECKING:
    from connector.systems.registry import Registry

NEWEST_CHECKED = 200  # the newest dead letters always read in full
SCAN_DEAD = 2000  # the newest dead letters searched for the customer's needles
SHOW_DEAD = 50


def trace_ids(
    engine: Engine, systems: Registry, customer_ids: list[str], key: tuple[str, str] | None
) -> Trace:
    """The trace of known customers (`customer_ids`), or of a bare phone/email `key` nobody has
    yet (events and dead letters only)."""
    needles = Needles()
    result = Trace(query=dict([key]) if key else {"customers": ",".join(customer_ids)})
    if key is not None:
        needles.texts.add(key[1])
        if key[0] == "phone":
            needles.digits |= _phone_digits(key[1])
    with reading(engine) as connection:
        for cid in customer_ids:
            result.customers.append(_customer(connection, cid, needles))
        result.orders = _orders(connection, customer_ids, needles)
        words = _words(needles)
        result.events = _events(connection, needles, systems, words)
        result.dead_letters = _dead_letters(connection, needles, systems, words)
    return result


def _words(needles: Needles) -> list[str]:
    """What a body must contain to be looked at closely (lower case)."""
    words = {t.lower() for t in needles.texts} | {t.replace("@", "%40") for t in needles.texts}
    words |= needles.digits | set(needles.canonical_ids)
    return sorted(w for w in words if w)


def _like_any(column: Any, words: list[str]) -> Any:
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(word, autoescape=True) for word in words))


def _events(
    connection: Connection, needles: Needles, systems: Registry, words: list[str]
) -> list[dict[str, Any]]:
    if not words:
        return []
    floor = connection.scalar(  # the 5,000 newest events, as `connector trace` reads
        select(inbound_events.c.id)
        .order_by(inbound_events.c.id.desc())
        .offset(SCAN_EVENTS - 1)
        .limit(1)
    )
    rows = connection.execute(
        events_with_tasks()
        .where(inbound_events.c.id >= (floor or 0), _like_any(inbound_events.c.body, words))
        .limit(SHOW_EVENTS * 5)
    ).mappings()
    return matching_events(rows, needles, systems)


def _dead_letters(
    connection: Connection, needles: Needles, systems: Registry, words: list[str]
) -> list[dict[str, Any]]:
    columns = (tasks.c.id, tasks.c.kind, tasks.c.attempts, tasks.c.finished_at, tasks.c.last_error)
    candidates: dict[int, Any] = {}
    newest = connection.execute(
        select(*columns, tasks.c.payload)
        .where(tasks.c.state == DEAD)
        .order_by(tasks.c.id.desc())
        .limit(NEWEST_CHECKED)
    ).mappings()
    candidates.update((row["id"], row) for row in newest)
    floor = connection.scalar(  # the newest dead letters only: the dead letters page has all
        select(tasks.c.id)
        .where(tasks.c.state == DEAD)
        .order_by(tasks.c.id.desc())
        .offset(SCAN_DEAD - 1)
        .limit(1)
    )
    if words:
        matching = connection.execute(
            select(*columns, tasks.c.payload)
            .where(
                tasks.c.state == DEAD,
                tasks.c.id >= (floor or 0),
                _like_any(tasks.c.payload, words),
            )
            .order_by(tasks.c.id.desc())
            .limit(SHOW_DEAD * 4)
        ).mappings()
        candidates.update((row["id"], row) for row in matching)
    found, pattern = [], needles.pattern()
    for task_id in sorted(candidates, reverse=True):
        row = candidates[task_id]
        text = json.dumps(row["payload"], ensure_ascii=False, default=str)
        if needles.found_in(text, task_target(row["kind"], row["payload"], systems), pattern):
            found.append(
                {
                    "id": row["id"],
                    "kind": row["kind"],
                    "attempts": row["attempts"],
                    "finished_at": row["finished_at"],
                    "last_error": row["last_error"],
                    "payload": row["payload"],
                }
            )
            if len(found) >= SHOW_DEAD:
                break
    return found


def keys_of(connection: Connection, cid: str) -> dict[str, str]:
    return dict(
        connection.execute(
            select(identity_keys.c.kind, identity_keys.c.value).where(
                identity_keys.c.canonical_id == cid
            )
        ).all()
    )
