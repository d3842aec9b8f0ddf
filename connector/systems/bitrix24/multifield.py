"""Plans PHONE/EMAIL multifield updates that neither duplicate nor drop values by accident.

Bitrix24 keeps multifield values as items `{ID, VALUE, VALUE_TYPE}`. On `crm.contact.update`
an item without `ID` is *added*, an item with `ID` changes that value, `{"ID", "DELETE": "Y"}`
deletes it, and values not mentioned stay (docs `crm-contact-update.md`; specs
`requests/crm.contact.update.multifield-*.request.json`). So re-sending a phone we already have
creates a duplicate: we send only what differs, with the IDs of the items we touch.
Phones are compared by digits because Bitrix24 shows them in its own format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PHONE = "PHONE"
EMAIL = "EMAIL"
_NOT_DIGITS = re.compile(r"\D+")


def comparable(kind: str, value: str) -> str:
    """The form two values are compared in: digits for phones, lower case for e-mails."""
    value = (value or "").strip()
    if kind == PHONE:
        return _NOT_DIGITS.sub("", value)
    return value.lower()


def new_items(
    kind: str, wanted: Iterable[str | Mapping[str, Any]], value_type: str = "WORK"
) -> list[dict[str, Any]]:
    """Items for a new record (`crm.contact.add`), duplicates removed."""
    return plan(kind, wanted, (), value_type=value_type)


def plan(
    kind: str,
    wanted: Iterable[str | Mapping[str, Any]],
    existing: Iterable[Mapping[str, Any]] | None,
    *,
    remove_missing: bool = False,
    value_type: str = "WORK",
) -> list[dict[str, Any]]:
    """The multifield items to send so the record holds `wanted` (and, optionally, nothing else).

    Wanted values already present are not sent. With `remove_missing`, a present value that is
    no longer wanted is changed in place (same ID) to a new wanted value, or deleted by ID.
    """
    present: dict[str, Mapping[str, Any]] = {}
    for item in existing or ():
        key = comparable(kind, str(item.get("VALUE", "")))
        if key and key not in present:
            present[key] = item
    additions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in wanted:
        value, kind_of_value = _value(entry, value_type)
        key = comparable(kind, value)
        if not key or key in seen:
            continue
        seen.add(key)
        if key not in present:
            additions.append({"VALUE": value, "VALUE_TYPE": kind_of_value})
    if not remove_missing:
        return additions
    stale = [item for key, item in present.items() if key not in seen]
    changes = [{"ID": old["ID"], **new} for old, new in zip(stale, additions, strict=False)]
    paired = len(changes)
    deletions = [{"ID": old["ID"], "DELETE": "Y"} for old in stale[paired:]]
    return changes + additions[paired:] + deletions


def _value(entry: str | Mapping[str, Any], value_type: str) -> tuple[str, str]:
    if isinstance(entry, Mapping):
        return str(entry.get("VALUE", "")).strip(), str(entry.get("VALUE_TYPE") or value_type)
    return str(entry).strip(), value_type
