"""The CRM itself: contacts and deals with multifields, user fields and product rows.

Both method families (legacy ``crm.contact.*``/``crm.deal.*`` and ``crm.item.*``) and the manager
acting in the UI go through here, so they see the same records and fire the same events.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from . import errors, timefmt
from .events import EventBus
from .fields import (
    CONTACT,
    DEAL,
    VALUE_TYPES,
    EntityKind,
    Field,
    coerce,
    is_uf,
    item_value,
    legacy_value,
    uf_item_name,
)
from .listing import Resolver
from .params import as_bool, as_int, as_list
from .state import PortalState

UF_KINDS = {
    "string": "string",
    "integer": "int",
    "double": "money",
    "boolean": "char",
    "datetime": "datetime",
    "date": "date",
    "money": "string",
    "url": "string",
    "address": "string",
    "enumeration": "int",
    "file": "string",
    "employee": "int",
    "crm_status": "string",
    "iblock_section": "int",
    "iblock_element": "int",
    "crm": "string",
}


class Crm:
    """Reads and writes CRM records and fires ONCRM* events for every change."""

    def __init__(self, state: PortalState, bus: EventBus) -> None:
        self.state = state
        self.bus = bus

    @property
    def offset(self) -> int:
        return self.state.config.utc_offset_hours

    # -- lookup ---------------------------------------------------------------------------------

    def records(self, kind: EntityKind) -> dict[int, dict[str, Any]]:
        return self.state.records[kind.name]

    def find(self, kind: EntityKind, record_id: Any) -> dict[str, Any] | None:
        number = as_int(record_id)
        if number is None:
            return None
        return self.records(kind).get(number)

    def userfields(self, kind: EntityKind) -> list[dict[str, Any]]:
        return [uf for uf in self.state.userfields if uf["ENTITY_ID"] == kind.uf_entity]

    def userfield(self, kind: EntityKind, name: str) -> dict[str, Any] | None:
        upper = name.upper()
        return next((uf for uf in self.userfields(kind) if uf["FIELD_NAME"] == upper), None)

    def userfield_by_item(self, kind: EntityKind, name: str) -> dict[str, Any] | None:
        for uf in self.userfields(kind):
            if name in {uf["FIELD_NAME"], uf_item_name(uf["FIELD_NAME"])}:
                return uf
        return None

    # -- writes ---------------------------------------------------------------------------------

    def add(
        self,
        kind: EntityKind,
        fields: dict[str, Any],
        user_id: int,
        connector: str | None = None,
        fm: Any = None,
    ) -> int:
        now = self.state.now()
        fields = {str(k).upper(): v for k, v in fields.items()}
        stage = fields.pop("STAGE_ID", None) if kind is DEAL else None
        record_id = self.state.next_id(kind.name)
        record: dict[str, Any] = {
            "ID": record_id,
            "FM": [],
            "DATE_CREATE": now,
            "DATE_MODIFY": now,
            "CREATED_BY_ID": user_id,
            "MODIFY_BY_ID": user_id,
            "ASSIGNED_BY_ID": user_id,
            "OPENED": "Y",
            "LAST_ACTIVITY_TIME": now,
            "LAST_ACTIVITY_BY": user_id,
        }
        if kind is CONTACT:
            record.update(EXPORT="Y", TYPE_ID="CLIENT")
        else:
            record.update(
                CATEGORY_ID=0,
                CURRENCY_ID=self.state.config.currency,
                OPPORTUNITY=0.0,
                IS_MANUAL_OPPORTUNITY="N",
                TAX_VALUE=0.0,
                BEGINDATE=timefmt.day_of(now, self.offset),
                IS_RECURRING="N",
                IS_RETURN_CUSTOMER="N",
                IS_REPEATED_APPROACH="N",
                TYPE_ID="SALE",
            )
        for uf in self.userfields(kind):
            record[uf["FIELD_NAME"]] = [] if uf["MULTIPLE"] == "Y" else None
        self._apply(kind, record, fields, creating=True)
        if fm is not None:
            self._apply_item_fm(record, fm, creating=True)
        if kind is DEAL:
            record.setdefault("TITLE", None)
            if not record.get("TITLE"):
                record["TITLE"] = f"Deal #{record_id}"
            if record.get("CLOSEDATE") is None:
                record["CLOSEDATE"] = record["BEGINDATE"] + timedelta(days=7)
            self._place_on_stage(record, stage, user_id, now, creating=True)
        self._derive(kind, record)
        self.records(kind)[record_id] = record
        self.bus.fire(f"{kind.event_prefix}ADD", {"ID": str(record_id)}, connector, user_id)
        return record_id

    def update(
        self,
        kind: EntityKind,
        record: dict[str, Any],
        fields: dict[str, Any],
        user_id: int,
        connector: str | None = None,
        fm: Any = None,
        allow_category_move: bool = False,
        fire_unchanged: bool = True,
    ) -> bool:
        """Apply changes all or nothing; returns whether anything changed (crm.item skips no-op
        saves)."""
        working = copy.deepcopy(record)
        now = self.state.now()
        old_category = working.get("CATEGORY_ID")
        old_stage = working.get("STAGE_ID")
        fields = {str(k).upper(): v for k, v in fields.items()}
        if kind is DEAL:
            wanted_category = fields.pop("CATEGORY_ID", None)
            wanted_stage = fields.pop("STAGE_ID", None)
        self._apply(kind, working, fields, creating=False)
        if fm is not None:
            self._apply_item_fm(working, fm, creating=False)
        moved_category = False
        if kind is DEAL:
            category = as_int(wanted_category) if allow_category_move else None
            if category is not None and category != old_category:
                if category not in self.state.categories:
                    raise errors.legacy(f"Category {category} is not found")
                working["CATEGORY_ID"] = category
                moved_category = True
                self._place_on_stage(working, wanted_stage, user_id, now, creating=True)
            elif wanted_stage not in (None, "") and wanted_stage != old_stage:
                self._place_on_stage(working, wanted_stage, user_id, now, creating=False)
        self._derive(kind, working)
        changed = _snapshot(working) != _snapshot(record)
        if not changed and not fire_unchanged:
            return False
        record.clear()
        record.update(working)
        record["DATE_MODIFY"] = now
        record["MODIFY_BY_ID"] = user_id
        record_id = str(record["ID"])
        if moved_category:
            self.bus.fire(
                "ONCRMDEALMOVETOCATEGORY",
                {
                    "ID": record_id,
                    "CATEGORY_ID": str(record["CATEGORY_ID"]),
                    "STAGE_ID": record["STAGE_ID"],
                },
                connector,
                user_id,
            )
        else:
            self.bus.fire(f"{kind.event_prefix}UPDATE", {"ID": record_id}, connector, user_id)
        return changed

    def delete(
        self, kind: EntityKind, record: dict[str, Any], user_id: int, connector: str | None = None
    ) -> None:
        del self.records(kind)[record["ID"]]
        if kind is DEAL:
            self.state.product_rows.pop(record["ID"], None)
        else:  # deals keep living without the deleted contact
            for deal in self.records(DEAL).values():
                if record["ID"] in (deal.get("CONTACT_IDS") or []):
                    deal["CONTACT_IDS"] = [c for c in deal["CONTACT_IDS"] if c != record["ID"]]
                    deal["CONTACT_ID"] = deal["CONTACT_IDS"][0] if deal["CONTACT_IDS"] else None
        self.bus.fire(f"{kind.event_prefix}DELETE", {"ID": str(record["ID"])}, connector, user_id)

    def touch(
        self, kind: EntityKind, record: dict[str, Any], user_id: int, connector: str | None
    ) -> None:
        """A change around the record (product rows) that the portal reports as an update."""
        record["DATE_MODIFY"] = self.state.now()
        record["MODIFY_BY_ID"] = user_id
        self.bus.fire(f"{kind.event_prefix}UPDATE", {"ID": str(record["ID"])}, connector, user_id)

    def _apply(
        self, kind: EntityKind, record: dict[str, Any], fields: dict[str, Any], creating: bool
    ) -> None:
        for key, value in fields.items():
            name = str(key).upper()
            if name in kind.multifields:
                self._apply_legacy_multifield(record, name, value, creating)
            elif is_uf(name):
                uf = self.userfield(kind, name)
                if uf is not None:
                    record[uf["FIELD_NAME"]] = self._coerce_uf(uf, value)
            else:
                field = kind.field(name)
                if field is None or field.readonly:
                    continue
                if kind is DEAL and name == "CATEGORY_ID" and not creating:
                    continue  # crm.deal.update cannot move a deal to another funnel
                record[name] = coerce(field.kind, value, self.offset)
                if name == "CONTACT_IDS" and kind is DEAL:
                    record["CONTACT_ID"] = record[name][0] if record[name] else None
                if name == "CONTACT_ID" and kind is DEAL:
                    record["CONTACT_IDS"] = [record[name]] if record[name] else []

    def _coerce_uf(self, uf: dict[str, Any], value: Any) -> Any:
        kind = UF_KINDS.get(uf["USER_TYPE_ID"], "string")
        if uf["MULTIPLE"] == "Y":
            items = value if isinstance(value, list | dict) else [value]
            return [coerce(kind, v, self.offset) for v in as_list(items) if v not in (None, "")]
        if isinstance(value, list | dict):
            value = next(iter(as_list(value)), None)
        return coerce(kind, value, self.offset)

    # -- multifields ----------------------------------------------------------------------------

    def _new_multifield(self, type_id: str, value: Any, value_type: Any) -> dict[str, Any]:
        allowed = VALUE_TYPES.get(type_id, ("WORK",))
        chosen = str(value_type or allowed[0]).upper()
        return {
            "ID": self.state.next_id("multifield", start=101),
            "TYPE_ID": type_id,
            "VALUE_TYPE": chosen if chosen in allowed else allowed[0],
            "VALUE": str(value).strip(),
        }

    def _apply_legacy_multifield(
        self, record: dict[str, Any], type_id: str, items: Any, creating: bool
    ) -> None:
        """Legacy semantics (specs/bitrix24/requests/crm.contact.update.multifield-*): an item with
        ID changes that value, with ID and an empty VALUE (or DELETE=Y, or nothing else) deletes it,
        an item without ID adds one; values not mentioned stay.
        """
        entries: list[dict[str, Any]] = record["FM"]
        for raw in as_list(items):
            if not isinstance(raw, dict):
                continue
            item = {str(k).upper(): v for k, v in raw.items()}
            value = item.get("VALUE")
            entry_id = None if creating else as_int(item.get("ID"))
            if entry_id is None:
                if value is not None and str(value).strip():
                    entries.append(self._new_multifield(type_id, value, item.get("VALUE_TYPE")))
                continue
            entry = next(
                (e for e in entries if e["ID"] == entry_id and e["TYPE_ID"] == type_id), None
            )
            if entry is None:
                continue
            if as_bool(item.get("DELETE")) or value is None or not str(value).strip():
                entries.remove(entry)
                continue
            entry["VALUE"] = str(value).strip()
            if item.get("VALUE_TYPE"):
                allowed = VALUE_TYPES.get(type_id, ())
                wanted = str(item["VALUE_TYPE"]).upper()
                if wanted in allowed:
                    entry["VALUE_TYPE"] = wanted

    def _apply_item_fm(self, record: dict[str, Any], fm: Any, creating: bool) -> None:
        """crm.item semantics: an array adds; on update an object keyed by entry id changes (empty
        value deletes), unknown keys (``n0``) add; ``typeId`` is required or the entry is silently
        skipped
        (https://apidocs.bitrix24.com/tutorials/crm/how-to-edit-crm-objects/how-to-change-email-or-phone.html).
        """
        if not isinstance(fm, list | dict):
            return
        entries: list[dict[str, Any]] = record["FM"]
        keyed = isinstance(fm, dict) and not creating
        pairs = fm.items() if isinstance(fm, dict) else enumerate(fm)
        for key, raw in pairs:
            if not isinstance(raw, dict):
                continue
            type_id = str(raw.get("typeId") or raw.get("TYPE_ID") or "").upper()
            if type_id not in VALUE_TYPES:
                continue
            value = raw.get("value", raw.get("VALUE"))
            value_type = raw.get("valueType", raw.get("VALUE_TYPE"))
            entry = None
            if keyed:
                entry_id = as_int(key)
                entry = next(
                    (e for e in entries if e["ID"] == entry_id and e["TYPE_ID"] == type_id), None
                )
            if entry is None:
                if value is not None and str(value).strip():
                    entries.append(self._new_multifield(type_id, value, value_type))
                continue
            if value is None or not str(value).strip():
                entries.remove(entry)
                continue
            entry["VALUE"] = str(value).strip()
            if value_type and str(value_type).upper() in VALUE_TYPES[type_id]:
                entry["VALUE_TYPE"] = str(value_type).upper()

    # -- deals ----------------------------------------------------------------------------------

    def _place_on_stage(
        self, record: dict[str, Any], stage_id: Any, user_id: int, now: float, creating: bool
    ) -> None:
        category = record.get("CATEGORY_ID") or 0
        if category not in self.state.categories:
            raise errors.legacy(f"Category {category} is not found")
        stages = self.state.stages(category)
        codes = [s["STATUS_ID"] for s in stages]
        if stage_id in (None, ""):
            stage_id = codes[0] if creating else record.get("STAGE_ID")
        stage_id = str(stage_id)
        if stage_id not in codes:
            raise errors.legacy(f"Stage '{stage_id}' is not found in the deal category {category}")
        if creating or stage_id != record.get("STAGE_ID"):
            record["MOVED_TIME"] = now
            record["MOVED_BY_ID"] = user_id
        record["STAGE_ID"] = stage_id

    def stage_semantics(self, category: int, stage_id: str | None) -> str:
        for stage in self.state.stages(category):
            if stage["STATUS_ID"] == stage_id:
                return stage["SEMANTICS"] or "P"
        return "P"

    def _derive(self, kind: EntityKind, record: dict[str, Any]) -> None:
        if kind is CONTACT:
            types = {e["TYPE_ID"] for e in record["FM"]}
            record["HAS_PHONE"] = "Y" if "PHONE" in types else "N"
            record["HAS_EMAIL"] = "Y" if "EMAIL" in types else "N"
            record["HAS_IMOL"] = (
                "Y" if any(e["VALUE_TYPE"] == "IMOL" for e in record["FM"]) else "N"
            )
            return
        category = record.get("CATEGORY_ID") or 0
        semantic = self.stage_semantics(category, record.get("STAGE_ID"))
        record["STAGE_SEMANTIC_ID"] = semantic
        record["CLOSED"] = "Y" if semantic in {"S", "F"} else "N"
        stages = self.state.stages(category)
        record["IS_NEW"] = (
            "Y" if stages and record.get("STAGE_ID") == stages[0]["STATUS_ID"] else "N"
        )
        rows = self.state.product_rows.get(record["ID"])
        if rows and record.get("IS_MANUAL_OPPORTUNITY") != "Y":
            record["OPPORTUNITY"] = round(sum(r["PRICE"] * r["QUANTITY"] for r in rows), 2)

    # -- views ----------------------------------------------------------------------------------

    def legacy_view(
        self,
        kind: EntityKind,
        record: dict[str, Any],
        select: Any = None,
        default_multi: bool = True,
    ) -> dict[str, Any]:
        """A record as crm.contact.get / crm.deal.list print it (strings, multifields as lists)."""
        names = self._legacy_select(kind, select, default_multi)
        out: dict[str, Any] = {}
        for name in names:
            if name in kind.multifields:
                values = [
                    {
                        "ID": str(e["ID"]),
                        "VALUE_TYPE": e["VALUE_TYPE"],
                        "VALUE": e["VALUE"],
                        "TYPE_ID": e["TYPE_ID"],
                    }
                    for e in record["FM"]
                    if e["TYPE_ID"] == name
                ]
                if values:
                    out[name] = values
            elif is_uf(name):
                uf = self.userfield(kind, name)
                if uf is not None:
                    out[name] = self._uf_legacy(uf, record.get(name))
            else:
                field = kind.field(name)
                if field is not None:
                    out[name] = legacy_value(field.kind, record.get(name), self.offset)
        return out

    def _legacy_select(self, kind: EntityKind, select: Any, default_multi: bool) -> list[str]:
        wanted = [str(s).upper() for s in as_list(select)]
        if not wanted:
            wanted = ["*", "UF_*"] + (list(kind.multifields) if default_multi else [])
        names: list[str] = ["ID"]
        for token in wanted:
            if token == "*":
                names += [f.name for f in kind.fields if not f.hidden]
            elif token == "UF_*":
                names += [uf["FIELD_NAME"] for uf in self.userfields(kind)]
            else:
                names.append(token)
        return list(dict.fromkeys(names))

    def _uf_legacy(self, uf: dict[str, Any], value: Any) -> Any:
        kind = UF_KINDS.get(uf["USER_TYPE_ID"], "string")
        if uf["USER_TYPE_ID"] == "boolean":
            kind = "boolean"

        def one(v: Any) -> Any:
            if v is None:
                return None
            if kind == "boolean":
                return "1" if v == "Y" else "0"
            if kind == "money" and isinstance(v, float):
                return repr(v) if v != int(v) else str(int(v))
            return legacy_value(kind, v, self.offset)

        if isinstance(value, list):
            return [one(v) for v in value]
        return one(value)

    def item_view(
        self,
        kind: EntityKind,
        record: dict[str, Any],
        select: Any = None,
        original_uf: bool = False,
    ) -> dict[str, Any]:
        """A record as crm.item.* prints it (camelCase, ints and floats, ``fm``)."""
        wanted = [str(s) for s in as_list(select)] or ["*"]
        everything = "*" in wanted
        out: dict[str, Any] = {}
        for field in kind.fields:
            if field.item is None:
                continue
            if everything or field.item in wanted or field.name == "ID":
                out[field.item] = self._item_field(field, record)
        for uf in self.userfields(kind):
            item_name = uf["FIELD_NAME"] if original_uf else uf_item_name(uf["FIELD_NAME"])
            if (
                everything
                or item_name in wanted
                or uf["FIELD_NAME"] in wanted
                or "uf_*" in [w.lower() for w in wanted]
            ):
                out[item_name] = self._uf_item(uf, record.get(uf["FIELD_NAME"]))
        if everything and kind.multifields:
            out["fm"] = [
                {
                    "id": e["ID"],
                    "valueType": e["VALUE_TYPE"],
                    "value": e["VALUE"],
                    "typeId": e["TYPE_ID"],
                }
                for e in record["FM"]
            ]
        if everything:
            out["observers"] = []
            out["entityTypeId"] = kind.entity_type_id
        return out

    def _item_field(self, field: Field, record: dict[str, Any]) -> Any:
        value = record.get(field.name)
        if field.name in {"COMPANY_ID", "CONTACT_ID", "LEAD_ID"} and value is None:
            return 0 if field.name != "LEAD_ID" else None
        if field.name == "CATEGORY_ID" and value is None:
            return 0
        return item_value(field.kind, value, self.offset)

    def _uf_item(self, uf: dict[str, Any], value: Any) -> Any:
        kind = UF_KINDS.get(uf["USER_TYPE_ID"], "string")

        def one(v: Any) -> Any:
            if uf["USER_TYPE_ID"] == "boolean":
                return v == "Y"
            return item_value(kind, v, self.offset)

        if isinstance(value, list):
            return [one(v) for v in value]
        return None if value is None else one(value)

    # -- list support ---------------------------------------------------------------------------

    def legacy_resolver(self, kind: EntityKind) -> Resolver:
        def resolve(name: str) -> Any:
            upper = name.upper()
            if upper in kind.multifields:
                return (
                    lambda r, t=upper: [e["VALUE"] for e in r["FM"] if e["TYPE_ID"] == t],
                    "multi",
                )
            if is_uf(upper):
                uf = self.userfield(kind, upper)
                if uf is None:
                    return None
                return (
                    lambda r, n=uf["FIELD_NAME"]: r.get(n),
                    UF_KINDS.get(uf["USER_TYPE_ID"], "string"),
                )
            field = kind.field(upper)
            if field is None:
                return None
            return (lambda r, n=field.name: r.get(n), field.kind)

        return resolve

    def item_resolver(self, kind: EntityKind) -> Resolver:
        legacy = self.legacy_resolver(kind)

        def resolve(name: str) -> Any:
            field = kind.field_by_item(name)
            if field is not None:
                return legacy(field.name)
            uf = self.userfield_by_item(kind, name)
            if uf is not None:
                return legacy(uf["FIELD_NAME"])
            return None

        return resolve

    def item_fields_to_legacy(
        self, kind: EntityKind, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        """camelCase (or original UF) names to legacy names; ``fm`` returned apart."""
        legacy: dict[str, Any] = {}
        fm = None
        for key, value in fields.items():
            if key == "fm":
                fm = value
                continue
            field = kind.field_by_item(key)
            if field is not None:
                legacy[field.name] = value
                continue
            uf = self.userfield_by_item(kind, key)
            if uf is not None:
                legacy[uf["FIELD_NAME"]] = value
        return legacy, fm


def _snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its modification stamp, to tell a real change from a no-op save."""
    return {k: v for k, v in record.items() if k not in {"DATE_MODIFY", "MODIFY_BY_ID"}}
