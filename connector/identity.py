"""Identity: which records in which systems are one customer, order or cart, and how we know.

A *link* ties a canonical id to a record in one system (`links` table). Besides the ids it keeps
what makes echo and stale events recognisable (DESIGN.md, "Rules that keep data safe"):

- `fingerprint`: a hash of the fields we wrote to (or last read from) that record, in canonical
  form. An event whose freshly read record hashes the same changed nothing we care about: it is
  our own write coming back (Bitrix24 ONCRMDEALUPDATE after our update, WooCommerce order.updated
  after our status change), or a repeat.
- `version`: the record's modification time when we last applied or wrote it. An event older than
  that is stale and never overwrites newer data.
- `data`: small state of the link (what we last saw from that system, what we last wrote).

A person is found by links first, then by *identity keys*: E.164 phone, lower-cased email and
loyalty card (research/bitrix24.md 5.6: CRM duplicate search compares whole strings, so keys are
normalised before they are stored or looked up). Resolution runs in one write transaction, so two
tasks meeting the same new person at once still make one canonical customer (on PostgreSQL the
transactions of one key take turns on an advisory lock: see `take_turns`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from connector.store import reading, take_turns
from connector.store.raw import (
    RawSQL,
    as_json,
    from_json,
    insert_into,
    read_rows,
    run_returning,
    update_where,
)
from connector.store.tables import identity_keys, links

HUB = "hub"
"""The pseudo-system whose link row keeps the canonical snapshot of an entity in `data`."""

KEY_KINDS = ("card", "email", "phone")
"""Identity key kinds in the order they decide: a card is one person, an email nearly so."""

_UNSET: Any = object()


@dataclass(frozen=True)
class Link:
    """One record of one system tied to a canonical entity."""

    entity: str
    canonical_id: str
    system: str
    external_id: str
    fingerprint: str | None
    version: str | None
    data: dict[str, Any]


# --------------------------------------------------------------------------- values


def jsonable(value: Any) -> Any:
    """Canonical values as JSON: money and quantities as normalised decimal text, moments in UTC.

    `Decimal("3.00")` and `Decimal("3")` give the same text, so fingerprints do not depend on how
    a system prints its numbers.
    """
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return jsonable(Decimal(int(value)))
    if isinstance(value, float | int) and not isinstance(value, bool):
        return jsonable(Decimal(str(value)))
    return value


def fingerprint(values: Mapping[str, Any], fields: Iterable[str] | None = None) -> str:
    """Hash of canonical values (only `fields` when given; a missing field counts as empty)."""
    chosen = dict(values) if fields is None else {name: values.get(name) for name in fields}
    for name in [k for k, v in chosen.items() if v in (None, "", [], {})]:
        chosen[name] = None
    text = json.dumps(jsonable(chosen), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_moment(value: Any) -> dt.datetime | None:
    """A modification time from any source: datetime, unix seconds, ISO 8601 (naive = UTC) or
    Mailchimp's `YYYY-MM-DD HH:MM:SS`."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:  # "²" is a digit to `isdigit`; 1e20 seconds is past the year 9999
            moment = dt.datetime.fromtimestamp(float(value), dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def version_text(value: Any) -> str | None:
    """A version as stored on a link: ISO 8601 in UTC."""
    moment = as_moment(value)
    return moment.isoformat() if moment else None


def is_stale(link: Link | None, version: Any) -> bool:
    """True when `version` is older than what was already applied through this link."""
    if link is None or not link.version:
        return False
    given, applied = as_moment(version), as_moment(link.version)
    return given is not None and applied is not None and given < applied


def is_echo(link: Link | None, fresh_fingerprint: str) -> bool:
    """True when the record, read fresh, hashes as what we last wrote or applied."""
    return link is not None and link.fingerprint == fresh_fingerprint


def new_customer_id() -> str:
    return f"c{uuid.uuid4().hex[:16]}"


def order_id_for(system: str, external_id: str) -> str:
    """Canonical order ids name their source: an order is born in exactly one system."""
    return f"{system}-{external_id}"


# --------------------------------------------------------------------------- links


def link_from_row(row: Any) -> Link:
    """A link from a SQLAlchemy row of `links` (its JSON `data` already decoded)."""
    return _tuple_to_link(
        (
            row.entity,
            row.canonical_id,
            row.system,
            row.external_id,
            row.fingerprint,
            row.version,
            row.data,
        )
    )


def _tuple_to_link(row: tuple[Any, ...]) -> Link:
    """A link from the columns `_LINK_SELECT` names, in its order (`data` as text or decoded)."""
    entity, canonical_id, system, external_id, fingerprint, version, data = row
    return Link(
        entity=entity,
        canonical_id=canonical_id,
        system=system,
        external_id=external_id,
        fingerprint=fingerprint,
        version=version,
        data=dict(from_json(data) or {}),
    )


# Link lookups run several times in every task: in plain SQL on the caller's DBAPI cursor
# (connector/store/raw.py), as the queue's and the intake's own statements are, since
# SQLAlchemy's execution path costs more Python than the store takes to answer.
_LINK_SELECT = (
    "SELECT entity, canonical_id, system, external_id, fingerprint, version, data FROM links"
)
_FIND_LINK = RawSQL(f"{_LINK_SELECT} WHERE entity = ? AND system = ? AND external_id = ?")
_LINK_OF = RawSQL(f"{_LINK_SELECT} WHERE entity = ? AND canonical_id = ? AND system = ?")
_LINK_OF_LOCKED = RawSQL(f"{_LINK_OF.sql} FOR UPDATE")  # PostgreSQL; SQLite's writes are one
_LINKS_OF = RawSQL(f"{_LINK_SELECT} WHERE entity = ? AND canonical_id = ?")


def _links(target: Engine | Connection, statement: RawSQL, params: tuple[str, ...]) -> list[Link]:
    return [_tuple_to_link(row) for row in read_rows(target, statement, params)]


def find_link(
    target: Engine | Connection, entity: str, system: str, external_id: Any
) -> Link | None:
    """The link of a system's record, by its id there."""
    found = _links(target, _FIND_LINK, (entity, system, str(external_id)))
    return found[0] if found else None


def link_of(
    target: Engine | Connection, entity: str, canonical_id: str, system: str, lock: bool = False
) -> Link | None:
    """The record of a canonical entity in one system (`lock`: for update, inside a write)."""
    locks = lock and isinstance(target, Connection) and target.dialect.name == "postgresql"
    found = _links(target, _LINK_OF_LOCKED if locks else _LINK_OF, (entity, canonical_id, system))
    return found[0] if found else None


def lock_link(connection: Connection, entity: str, canonical_id: str, system: str) -> Link | None:
    """The link, locked for this transaction; when there is none yet, the sole right to make it.

    On PostgreSQL FOR UPDATE locks no missing row, so two transactions could both insert it (a
    unique violation) or both read the same `data` and each write back their own merge (a lost
    update); SQLite's write transactions run one at a time anyway.
    """
    found = link_of(connection, entity, canonical_id, system, lock=True)
    if found is None:
        take_turns(connection, [f"link:{entity}:{canonical_id}:{system}"])
        found = link_of(connection, entity, canonical_id, system, lock=True)
    return found


def links_of(target: Engine | Connection, entity: str, canonical_id: str) -> dict[str, Link]:
    """Every system's record of a canonical entity, by system."""
    return {link.system: link for link in _links(target, _LINKS_OF, (entity, canonical_id))}


def save_link(
    target: Engine | Connection,
    entity: str,
    canonical_id: str,
    system: str,
    external_id: Any,
    *,
    fingerprint: str | None = _UNSET,
    version: str | None = _UNSET,
    data: dict[str, Any] | None = _UNSET,
) -> None:
    """Creates or updates the link of (entity, canonical id, system); the external id may change
    (a member's new email). Arguments left out keep their stored value; `data` keys given
    replace those keys, the others stay."""
    if not isinstance(target, Connection):
        with target.begin() as connection:
            save_link(
                connection,
                entity,
                canonical_id,
                system,
                external_id,
                fingerprint=fingerprint,
                version=version,
                data=data,
            )
        return
    values: dict[str, Any] = {"external_id": str(external_id), "updated_at": time.time()}
    for name, value in (("fingerprint", fingerprint), ("version", version), ("data", data)):
        if value is not _UNSET:
            values[name] = jsonable(value) if name == "data" else value
    existing = lock_link(target, entity, canonical_id, system)
    if existing is not None and "data" in values and values["data"] is not None:
        values["data"] = {**existing.data, **values["data"]}  # keys given replace those keys
    if "data" in values:
        values["data"] = as_json(values["data"])  # None as JSON null, as the JSON type has it
    names = tuple(values)
    keys = (entity, canonical_id, system)
    if existing is None:
        insert = insert_into("links", (*_LINK_KEY, *names))
        run_returning(target, insert, (*keys, *values.values()))
    else:
        run_returning(target, update_where("links", names, _LINK_KEY), (*values.values(), *keys))


_LINK_KEY = ("entity", "canonical_id", "system")


def find_links_by_data(
    engine: Engine, entity: str, system: str, key: str, value: str
) -> list[Link]:
    """Links whose `data[key]` equals `value` (e.g. the open carts of one customer)."""
    query = select(links).where(
        links.c.entity == entity,
        links.c.system == system,
        links.c.data[key].as_string() == value,
    )
    with reading(engine) as connection:
        return [link_from_row(row) for row in connection.execute(query).all()]


# --------------------------------------------------------------------------- identity keys


def customer_keys(
    email: str | None = None, phone: str | None = None, card: str | None = None
) -> list[tuple[str, str]]:
    """Normalised lookup keys, strongest first; canonical values are already normalised
    (phones E.164 by the mapping's `phone` transform), so only spacing and case are fixed here."""
    keys = []
    if card and str(card).strip():
        keys.append(("card", str(card).strip()))
    if email and "@" in str(email):
        keys.append(("email", str(email).strip().lower()))
    if phone and str(phone).strip():
        keys.append(("phone", "".join(str(phone).split())))
    return keys


def find_customer_by_keys(
    target: Engine | Connection, keys: Iterable[tuple[str, str]]
) -> str | None:
    """The canonical customer the strongest matching key belongs to."""
    for kind, value in keys:
        found = read_rows(target, _KEY_OWNER, (kind, value))
        if found:
            return str(found[0][0])
    return None


_KEY_OWNER = RawSQL("SELECT canonical_id FROM identity_keys WHERE kind = ? AND value = ?")


def add_keys(connection: Connection, canonical_id: str, keys: Iterable[tuple[str, str]]) -> None:
    """Remembers keys for a customer; a key already taken by someone else stays theirs."""
    rows = [{"kind": k, "value": v, "canonical_id": canonical_id} for k, v in keys]
    if not rows:
        return
    dialect = connection.engine.dialect.name
    if dialect == "sqlite":
        connection.execute(sqlite.insert(identity_keys).values(rows).on_conflict_do_nothing())
        return
    if dialect == "postgresql":
        connection.execute(postgresql.insert(identity_keys).values(rows).on_conflict_do_nothing())
        return
    for row in rows:
        if find_customer_by_keys(connection, [(row["kind"], row["value"])]) is None:
            connection.execute(insert(identity_keys).values(row))


@dataclass(frozen=True)
class Resolved:
    """The canonical customer a record belongs to; `created` when it is new to the hub."""

    canonical_id: str
    created: bool


def resolve_customer(
    target: Engine | Connection,
    system: str | None = None,
    external_id: Any = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    card: str | None = None,
) -> Resolved:
    """Finds or makes the canonical customer: the system's link first, then card, email, phone.

    Records the link (when `external_id` is given) and the keys, all in one transaction: the
    caller's (a `Connection`, so an order and its buyer are one write), else its own.
    """
    if not isinstance(target, Connection):
        with target.begin() as connection:
            return resolve_customer(
                connection, system, external_id, email=email, phone=phone, card=card
            )
    keys = customer_keys(email, phone, card)
    turns = [f"identity:{kind}:{value}" for kind, value in keys]
    if system and external_id not in (None, ""):
        turns.append(f"record:customer:{system}:{external_id}")
    take_turns(target, turns)
    canonical_id, created = None, False
    if system and external_id not in (None, ""):
        link = find_link(target, "customer", system, external_id)
        canonical_id = link.canonical_id if link else None
    if canonical_id is None:
        canonical_id = find_customer_by_keys(target, keys)
    if canonical_id is None:
        canonical_id, created = new_customer_id(), True
    add_keys(target, canonical_id, keys)
    if system and external_id not in (None, ""):
        known = find_link(target, "customer", system, external_id)
        mine = link_of(target, "customer", canonical_id, system)
        if known is None and mine is None:
            save_link(target, "customer", canonical_id, system, external_id)
    return Resolved(canonical_id, created)


def customer_of_order(connection: Connection) -> Any:
    """The hub order's `customer_id`, written as the index `ix_links_customer_of` is."""
    if connection.dialect.name == "postgresql":
        return literal_column("(links.data ->> 'customer_id')")
    return literal_column("json_extract(links.data, '$.customer_id')")


def orders_of_customer(connection: Connection, customer_id: str) -> list[str]:
    """The canonical ids of the customer's orders in the hub (by the index above)."""
    return list(
        connection.scalars(
            select(links.c.canonical_id).where(
                links.c.entity == "order",
                links.c.system == HUB,
                customer_of_order(connection) == customer_id,
            )
        )
    )
