"""A dry run of the mappings: what a payload becomes, writing nothing.

`connector mappings try` and the console's "try" box share this core: a system's record (JSON, or
CSV receipts for `pos`) is mapped to canonical with that system's mapping, and the canonical
entity then to every other system that writes that entity (as a create), so an admin sees what
each system would receive. Nothing is read from or written to a store or a remote system.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connector.errors import ConnectorError, MappingError
from connector.mapping.csv_rows import group_receipts
from connector.mapping.engine import Mapping, MappingSet
from connector.model import ENTITIES


def dump(data: Any) -> str:
    """Indented JSON of a mapping result (decimals as text, dates in ISO 8601)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


class BadPayload(ConnectorError):
    """The pasted text is not a JSON object (or CSV rows); says where it stops making sense."""


def map_in(mapping: Mapping, text: str, csv: bool = False) -> Any:
    """A system record (JSON text; with `csv`, CSV rows grouped into receipts) to canonical:
    one dict, or a list of them for CSV receipts."""
    if csv:
        return [mapping.to_canonical(receipt) for receipt in group_receipts(text)]
    return mapping.to_canonical(parse_payload(text))


def parse_payload(text: str) -> dict[str, Any]:
    """The JSON object of a pasted payload, or `BadPayload` naming its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadPayload(
            f"payload: not JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise BadPayload("payload: nested too deeply") from None
    if not isinstance(data, dict):
        raise BadPayload("payload: a JSON object ({...}) is expected, one record")
    return data


@dataclass
class Outcome:
    """What one mapping made of the canonical entity, or why it could not."""

    system: str
    entity: str
    file: str
    result: Any = None
    error: str | None = None


@dataclass
class Trial:
    """A payload of `system`/`entity` mapped in, then out to each other system."""

    system: str
    entity: str
    canonical_name: str
    canonical: Any = None
    error: str | None = None
    outputs: list[Outcome] = field(default_factory=list)


def writes_out(mapping: Mapping) -> bool:
    """True when the mapping maps canonical fields to the system (not only in)."""
    return any(rule.apply_out is not None for rule in mapping.rules)


def try_payload(
    mappings: MappingSet, system: str, entity: str, text: str, csv: bool = False
) -> Trial:
    """Maps `text` in with `system`/`entity`, then out to every other system's mapping of the
    same canonical entity; each failure is kept in its place (file:line), never raised, except
    an unknown mapping (`MappingError`) and a payload that is not JSON (`BadPayload`)."""
    mapping = mappings.get(system, entity)
    trial = Trial(mapping.system, mapping.entity, mapping.canonical)
    try:
        trial.canonical = map_in(mapping, text, csv)
    except MappingError as error:
        trial.error = str(error)
        return trial
    records = trial.canonical if isinstance(trial.canonical, list) else [trial.canonical]
    for target in mappings.mappings():
        if target.canonical != mapping.canonical or target.system == mapping.system:
            continue
        if not writes_out(target):
            continue
        outcome = Outcome(target.system, target.entity, target.file)
        try:
            results = [
                target.to_system(ENTITIES[target.canonical].from_dict(record), creating=True)
                for record in records
            ]
            outcome.result = results if isinstance(trial.canonical, list) else results[0]
        except (MappingError, ValueError, TypeError, KeyError) as error:
            outcome.error = str(error)
        trial.outputs.append(outcome)
    return trial
