"""The hub's own state: canonical snapshots, the fan-out of push tasks, and the flow helpers
every flow shares.

A snapshot is the latest canonical entity (customer, order, cart) as the hub believes it; it lives
in the `data` of the entity's `hub` link, so push tasks read the newest state when they run rather
than the state when they were queued (DESIGN.md, "Fan-out"). Snapshots are changed inside one
write transaction, together with the enqueue of the pushes, so nothing is half done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

from sqlalchemy import Connection, Engine

from connector.errors import NotReady, TransientError
from connector.identity import HUB, jsonable, link_of, lock_link, save_link
from connector.model import ENTITIES
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.registry import System

log = logging.getLogger("connector.flows")

DEPENDENCY_WAIT_SECONDS = 0.2
DEPENDENCY_PATIENCE_SECONDS = 600.0
WOKEN_WAIT_SECONDS = 3.0  # a safety net: the dependency's task wakes the waiting one


def wait_for_dependency(
    ctx: TaskContext, what: str, wait: float = DEPENDENCY_WAIT_SECONDS
) -> NoReturn:
    """Asks the queue to run the task again soon (`NotReady`: no failed attempt, an INFO line);
    after a long wait it becomes a real failure, so a dead dependency shows up in the dead
    letters instead of looping for ever. A task whose dependency wakes it when made
    (`Queue.wake`) waits `WOKEN_WAIT_SECONDS`: the wait is then only a safety net."""
    if ctx.services.queue.clock() - ctx.task.enqueued_at > DEPENDENCY_PATIENCE_SECONDS:
        raise TransientError(f"still waiting for {what}")
    raise NotReady(f"waiting for {what}", wait=wait)


# --------------------------------------------------------------------------- snapshots


def typed(entity: str, data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored (JSON) snapshot back as a canonical dict with Decimals and datetimes."""
    if data is None:
        return None
    return ENTITIES[entity].coerce_json(dict(data))


def load_snapshot(target: Engine | Connection, entity: str, canonical_id: str) -> dict | None:
    link = link_of(target, entity, canonical_id, HUB)
    return typed(entity, link.data) if link and link.data else None


@dataclass
class Change:
    """A snapshot before and after one change."""

    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def changed(self) -> set[str]:
        before = jsonable(self.before or {})
        after = jsonable(self.after)
        return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def change_snapshot(
    connection: Connection,
    entity: str,
    canonical_id: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any]],
    version: str | None = None,
) -> Change:
    """Reads, changes and stores a snapshot inside the caller's write transaction."""
    link = lock_link(connection, entity, canonical_id, HUB)  # a new one: made once
    before = typed(entity, link.data) if link and link.data else None
    after = change(None if before is None else dict(before))
    kwargs: dict[str, Any] = {"data": after}
    if version is not None:
        kwargs["version"] = version
    save_link(connection, entity, canonical_id, HUB, canonical_id, **kwargs)
    return Change(before, after)


def merge_values(
    current: dict[str, Any] | None, incoming: Mapping[str, Any], *, fill_only: bool = False
) -> dict[str, Any]:
    """`current` with the non-empty values of `incoming`; `fill_only` fills only empty fields."""
    merged = dict(current or {})
    for name, value in incoming.items():
        if value is None or value == [] or value == {}:
            continue
        if fill_only and merged.get(name) not in (None, "", [], {}):
            continue
        if name == "custom" and isinstance(value, Mapping):
            merged["custom"] = {**(merged.get("custom") or {}), **value}
            continue
        merged[name] = value
    return merged


def changed_since(canonical: Mapping[str, Any], seen: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields of a record that differ from what we last saw of it in the same system.

    Only these are applied to the hub: a field the system did not change never overwrites what
    another system changed meanwhile (a CRM stage move survives an unrelated shop edit).
    """
    if seen is None:
        return dict(canonical)
    fresh, old = jsonable(dict(canonical)), jsonable(dict(seen))
    return {k: canonical[k] for k in canonical if fresh.get(k) != old.get(k)}


# --------------------------------------------------------------------------- fan-out


def push(
    connection: Connection,
    ctx_or_services: TaskContext | Services,
    kind: str,
    target_id: str,
    payload: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    run_at: float | None = None,
) -> None:
    """Enqueues one push task with its target's ordering key, inside the caller's transaction."""
    # a task context (or a test's stand-in for one) carries the services
    services = cast("Services", getattr(ctx_or_services, "services", ctx_or_services))
    key = services.systems.push_key(kind, target_id)
    body = {"id": target_id, **(payload or {})}
    services.queue.enqueue(
        kind,
        body,
        dedupe_key=dedupe_key,
        ordering_key=key,
        connection=connection,
        run_at=run_at,
    )


# A shop-like (`linked_only`) system is told only about records it already holds (its link);
# `SHOP_REF` names the canonical id in its payload.
SHOP_REF = {"customer": "cid", "order": "oid"}


def fan_out(
    connection: Connection,
    ctx: Any,
    entity: str,
    canonical_id: str,
    exclude: str | None,
    parents: Mapping[str, str | None] | None = None,
) -> None:
    """One push task per configured system that receives `entity` (its `receives`
    declaration, connector/systems/registry.py), except the one the change came from.

    `parents` names the records this one refers to (an order's customer). Where a system
    declares that it needs one linked first (`push_after`) and it is not linked there yet,
    the push is enqueued to wait: the parent's push wakes it when it links the parent, and
    the wait is a safety net only (`WOKEN_WAIT_SECONDS`)."""
    services = getattr(ctx, "services", ctx)
    for system, kind in services.systems.receivers(entity):
        if system.name == exclude or not services.enabled(system.name):
            continue
        if not system.linked_only:
            run_at = _after_parent(connection, services, system, entity, parents or {})
            push(connection, services, kind, canonical_id, run_at=run_at)
        elif (held := link_of(connection, entity, canonical_id, system.name)) is not None:
            push(connection, services, kind, held.external_id, {SHOP_REF[entity]: canonical_id})


def _after_parent(
    connection: Connection,
    services: Services,
    system: System,
    entity: str,
    parents: Mapping[str, str | None],
) -> float | None:
    """When a push of `entity` to `system` is due: None (now), or after a safety-net wait
    while the parent it must name is not linked there yet."""
    parent = system.push_after.get(entity)
    parent_id = parents.get(parent) if parent else None
    if not parent or not parent_id or link_of(connection, parent, parent_id, system.name):
        return None
    return services.queue.clock() + WOKEN_WAIT_SECONDS


def systems_enabled(services: Services, names: Iterable[str]) -> list[str]:
    return [name for name in names if services.enabled(name)]


def skip(what: str, reason: str, **detail: Any) -> None:
    """Logs an event the flow drops on purpose (echo, stale, duplicate, unknown record)."""
    log.info("%s dropped: %s %s", what, reason, detail or "")


def conflicting_fields(
    mapping_set: Any,
    source: Any,
    delta: Mapping[str, Any],
    seen: Mapping[str, Any] | None,
    hub: Mapping[str, Any] | None,
) -> set[str]:
    """Fields a system changed while another system, which owns them, changed them too.

    "Both changed since the last sync" means: the hub's value, as the source system would hold
    it (through its own mapping, so lossy value maps compare fairly), differs from what we last
    saw there. The owner is named by `owner:` in any mapping file of the same canonical entity
    (e.g. `status` is owned by bitrix24 in mappings/bitrix24/deal.yaml); the owner's value stays.
    """
    if not seen or not hub:
        return set()
    found = set()
    for name in delta:
        owner = _owner(mapping_set, source.canonical, name, source.system)
        if owner is None:
            continue
        try:
            as_source = source.to_canonical(source.to_system({name: hub.get(name)})).get(name)
        except Exception:  # noqa: BLE001 - a field the source cannot hold cannot conflict
            continue
        if as_source is not None and jsonable(as_source) != jsonable(seen.get(name)):
            found.add(name)
    return found


def _owner(mapping_set: Any, canonical: str, name: str, system: str) -> str | None:
    for mapping in mapping_set.mappings():
        if mapping.canonical != canonical or mapping.system == system:
            continue
        owner = mapping.owner_of(name)
        if owner and owner not in (system, "hub"):
            return owner
    return None
