"""`connector trace`: one customer across every system, for support.

Starts from a phone (normalised to E.164 with phonenumbers, in the mappings' default region) or
an email, finds the canonical customer through `identity_keys` (and the hub's snapshots), then
gathers its links in each system, its orders with their status and each system's record,
its consent, the last inbound events about it and any dead letters about it. Events and dead
letters are matched both by content (the email, the phone in any spelling, a loyalty card) and
by what their task is about (each system's record linked to this customer: its `trace`), so a
customer whose first task died before any link existed is still found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import Connection, Engine, RowMapping, literal, select

from connector.errors import ConnectorError
from connector.identity import customer_of_order
from connector.mapping.phones import DEFAULT_REGION
from connector.queue import DEAD
from connector.store import reading
from connector.store.tables import identity_keys, inbound_events, links, tasks

if TYPE_CHECKING:
    from connector.mapping import MappingSet
    from connector.systems.registry import Registry

HUB = "hub"
SCAN_EVENTS = 5000  # newest inbound events looked through
SHOW_EVENTS = 10
_PHONE_LIKE = re.compile(r"[\d()+\-. ]{7,}")  # a phone as people write it: (555) 123-4567


class BadQuery(ConnectorError):
    """A phone or email that cannot be looked up."""


@dataclass
class Needles:
    """What identifies the customer in a body or payload."""

    texts: set[str] = field(default_factory=set)  # emails, E.164 phones, cards (any case)
    digits: set[str] = field(default_factory=set)  # phone digits, matched in digits-only text
    canonical_ids: set[str] = field(default_factory=set)  # matched as JSON strings
    records: set[tuple[str, str, str]] = field(default_factory=set)  # (system, entity, id)

    def pattern(self) -> re.Pattern[str]:
        """One regex for every text needle, whole words only (`ann@x` is not in `joann@x`);
        emails also URL-encoded, as form bodies carry them."""
        words = set(self.texts) | {t.replace("@", "%40") for t in self.texts if "@" in t}
        alternatives = [re.escape(w) for w in sorted(words)]
        alternatives += [re.escape(f'"{c}"') for c in sorted(self.canonical_ids)]
        if not alternatives:
            return re.compile(r"(?!x)x")
        edge = r"[\w.%+-]"
        return re.compile(f"(?<!{edge})(?:{'|'.join(alternatives)})(?!{edge})", re.IGNORECASE)

    def found_in(
        self, text: str, target: tuple[str, str, str] | None = None, pattern: Any = None
    ) -> bool:
        if target is not None and target in self.records:
            return True
        if (pattern or self.pattern()).search(text):
            return True
        for run in _PHONE_LIKE.findall(text) if self.digits else ():
            digits = re.sub(r"\D", "", run)
            if any(d in digits for d in self.digits):
                return True
        return False


@dataclass
class Trace:
    query: dict[str, str]
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    cascades: list[dict[str, Any]] = field(default_factory=list)  # runs, sends, stop reasons

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def phone_e164(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise BadQuery(f"--phone: {text!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise BadQuery(f"--phone: {text!r} is not a possible phone number in {region.upper()}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_digits(e164: str) -> set[str]:
    """An E.164 number's digits with and without the country code (`(555) 123-4567`)."""
    try:
        national = str(phonenumbers.parse(e164).national_number)
    except phonenumbers.NumberParseException:
        return set()
    return {e164.lstrip("+"), national} if len(national) >= 6 else {e164.lstrip("+")}


def default_region(mappings: MappingSet, systems: Registry | None = None) -> str:
    """The mappings' `phone_region` (mappings/defaults.yaml) as the sales channels' customer
    mappings read it (the registry's `sales_channel` systems, in its order), else the POS
    import's order mapping; the default when none is readable."""
    from connector.systems.registry import Registry

    registry = systems if systems is not None else Registry.discover()
    sources = [(system.name, "customer") for system in registry if system.sales_channel]
    for system, entity in [*sources, ("pos", "order")]:
        try:
            region = mappings.get(system, entity).options.get("phone_region")
        except Exception:  # noqa: BLE001 - any unreadable mapping: try the next one
            continue
        if region:
            return str(region)
    return DEFAULT_REGION


def trace_customer(
    engine: Engine,
    phone: str | None = None,
    email: str | None = None,
    region: str = DEFAULT_REGION,
    systems: Registry | None = None,
) -> Trace:
    from connector.systems.registry import Registry

    systems = systems if systems is not None else Registry.discover()
    if bool(phone) == bool(email):
        raise BadQuery("trace: give exactly one of --phone or --email")
    needles = Needles()
    if phone:
        key = ("phone", phone_e164(phone, region))
        needles.texts.add(key[1])
        needles.digits |= _phone_digits(key[1])
    else:
        key = ("email", str(email).strip().lower())
        if "@" not in key[1]:
            raise BadQuery(f"--email: {email!r} is not an email address")
        needles.texts.add(key[1])
    result = Trace(query={key[0]: key[1]})
    with reading(engine) as connection:
        customer_ids = _customers(connection, key)
        for cid in customer_ids:
            result.customers.append(_customer(connection, cid, needles))
        result.orders = _orders(connection, customer_ids, needles)
        result.events = _events(connection, needles, systems)
        result.dead_letters = _dead_letters(connection, needles, systems)
        from connector.cascades.history import runs_of

        result.cascades = runs_of(connection, customer_ids)
    return result


def _customers(connection: Connection, key: tuple[str, str]) -> list[str]:
    found = list(
        connection.scalars(
            select(identity_keys.c.canonical_id).where(
                identity_keys.c.kind == key[0], identity_keys.c.value == key[1]
            )
        )
    )
    found += connection.scalars(
        select(links.c.canonical_id).where(
            links.c.entity == "customer",
            links.c.system == HUB,
            links.c.data[key[0]].as_string() == key[1],
        )
    )
    return list(dict.fromkeys(found))


def _customer(connection: Connection, cid: str, needles: Needles) -> dict[str, Any]:
    keys = connection.execute(
        select(identity_keys.c.kind, identity_keys.c.value)
        .where(identity_keys.c.canonical_id == cid)
        .order_by(identity_keys.c.kind, identity_keys.c.value)  # no store has an order of its own
    ).all()
    rows = connection.execute(
        select(links)
        .where(links.c.entity == "customer", links.c.canonical_id == cid)
        .order_by(links.c.system)
    ).mappings()
    snapshot: dict[str, Any] = {}
    systems = []
    for row in rows:
        if row["system"] == HUB:
            snapshot = dict(row["data"] or {})
            continue
        systems.append(
            {
                "system": row["system"],
                "id": row["external_id"],
                "version": row["version"],
                "updated_at": row["updated_at"],
                "data": row["data"] or {},
            }
        )
        needles.records.add((row["system"], "customer", str(row["external_id"])))
    needles.canonical_ids.add(cid)
    for kind, value in keys:  # the other keys find what mentions the customer their way
        needles.texts.add(str(value).lower())
        if kind == "phone":
            needles.digits |= _phone_digits(str(value))
    consent = {"hub": snapshot.get("marketing_consent")}
    for link in systems:
        if "consent" in link["data"]:
            consent[link["system"]] = link["data"]["consent"]
    return {
        "id": cid,
        "name": " ".join(filter(None, [snapshot.get("first_name"), snapshot.get("last_name")])),
        "email": snapshot.get("email"),
        "phone": snapshot.get("phone"),
        "keys": [{"kind": k, "value": v} for k, v in keys],
        "links": systems,
        "consent": consent,
    }


def _orders(
    connection: Connection, customer_ids: list[str], needles: Needles
) -> list[dict[str, Any]]:
    if not customer_ids:
        return []
    hub_rows = connection.execute(
        select(links).where(
            links.c.entity == "order",
            links.c.system == HUB,
            customer_of_order(connection).in_(customer_ids),
        )
    ).mappings()
    orders = []
    for hub in hub_rows:
        data = dict(hub["data"] or {})
        oid = hub["canonical_id"]
        needles.canonical_ids.add(oid)
        records = []
        for row in connection.execute(
            select(links)
            .where(links.c.entity == "order", links.c.canonical_id == oid, links.c.system != HUB)
            .order_by(links.c.system)
        ).mappings():
            own = row["data"] or {}
            records.append(
                {
                    "system": row["system"],
                    "id": row["external_id"],
                    "status": own.get("stage") or own.get("status"),
                    "version": row["version"],
                }
            )
            needles.records.add((row["system"], "order", str(row["external_id"])))
        orders.append(
            {
                "id": oid,
                "customer_id": data.get("customer_id"),
                "status": data.get("status"),
                "total": data.get("total"),
                "currency": data.get("currency"),
                "created_at": data.get("created_at"),
                "links": records,
            }
        )
    return sorted(orders, key=lambda o: str(o.get("created_at") or ""), reverse=True)


def task_target(kind: str, payload: Any, systems: Registry) -> tuple[str, str, str] | None:
    """The (system, entity, id) an inbound task is about, in the terms of `links`: asked of the
    system named by the kind's first word (its `trace` declaration)."""
    if not isinstance(payload, dict):
        return None
    system = kind.partition(".")[0]
    if system not in systems:
        return None
    found = systems.get(system).task_record(kind, payload)
    return (system, *found) if found else None


# The task a webhook queued carries the dedupe key `inbound:<source>:<delivery id>`
# (connector/inbound.py), which ties the two rows together.
inbound_task_key = (
    literal("inbound:") + inbound_events.c.source + ":" + inbound_events.c.delivery_id
)


def events_with_tasks() -> Any:
    """Inbound events newest first, each with the task it queued (for `matching_events`)."""
    return (
        select(inbound_events, tasks.c.id.label("queued_task"), tasks.c.kind, tasks.c.payload)
        .join(tasks, tasks.c.dedupe_key == inbound_task_key, isouter=True)
        .order_by(inbound_events.c.id.desc())
    )


def _events(connection: Connection, needles: Needles, systems: Registry) -> list[dict[str, Any]]:
    rows = connection.execute(events_with_tasks().limit(SCAN_EVENTS)).mappings()
    return matching_events(rows, needles, systems)


def matching_events(
    rows: Iterable[RowMapping], needles: Needles, systems: Registry
) -> list[dict[str, Any]]:
    """The first `SHOW_EVENTS` of `rows` (from `events_with_tasks`) that mention the needles
    in their body or whose task is about one of the person's records."""
    found, pattern = [], needles.pattern()
    for row in rows:
        target = task_target(row["kind"], row["payload"], systems) if row["kind"] else None
        if needles.found_in(row["body"] or "", target, pattern):
            found.append(
                {
                    "id": row["id"],
                    "source": row["source"],
                    "topic": row["topic"],
                    "received_at": row["received_at"],
                    "task_id": row["queued_task"],
                }
            )
            if len(found) >= SHOW_EVENTS:
                break
    return found


def _dead_letters(
    connection: Connection, needles: Needles, systems: Registry
) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(tasks).where(tasks.c.state == DEAD).order_by(tasks.c.id.desc())
    ).mappings()
    found, pattern = [], needles.pattern()
    for row in rows:
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
    return found


def flatten(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values if v not in (None, ""))
