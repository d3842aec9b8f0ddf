"""Legacy ``crm.contact.*`` and ``crm.deal.*`` (add/get/update/list/delete/fields).

Shapes: specs/bitrix24/responses/crm.contact.*, crm.deal.*; refusals have an empty ``error`` code
(specs/bitrix24/errors/crm.contact.get.400.empty-code.json, crm.contact.update.400.not-found.json).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import errors
from ..fields import CONTACT, DEAL, EntityKind
from ..listing import Page, compile_filter, paginate, sort_records
from ..params import as_int, pick


def _fields_param(call: Any) -> dict[str, Any]:
    fields = pick(call.params, "fields")
    if not isinstance(fields, dict):
        raise errors.legacy("Parameter 'fields' must be array.")
    return fields


def _existing(call: Any, kind: EntityKind, missing: str) -> dict[str, Any]:
    record_id = as_int(pick(call.params, "id"))
    if record_id is None or record_id <= 0:
        raise errors.legacy("ID is not defined or invalid.")
    record = call.portal.crm.find(kind, record_id)
    if record is None:
        raise errors.legacy(missing)
    return record


def add(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> int:
        fields = _fields_param(call)
        return call.portal.crm.add(kind, fields, call.caller.user_id, call.connector)

    return handler


def get(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> dict[str, Any]:
        record = _existing(call, kind, "Not found")
        return call.portal.crm.legacy_view(kind, record)

    return handler


def update(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> bool:
        record = _existing(call, kind, f"{kind.title} is not found")
        fields = _fields_param(call)
        call.portal.crm.update(kind, record, fields, call.caller.user_id, call.connector)
        return True

    return handler


def delete(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> bool:
        record = _existing(call, kind, f"{kind.title} is not found")
        call.portal.crm.delete(kind, record, call.caller.user_id, call.connector)
        return True

    return handler


def list_(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> Page:
        crm = call.portal.crm
        resolve = crm.legacy_resolver(kind)
        matches = compile_filter(pick(call.params, "filter"), resolve, crm.offset, strict=False)
        rows = [r for r in crm.records(kind).values() if matches(r)]
        rows = sort_records(rows, pick(call.params, "order"), resolve, "ID")
        page, total, following = paginate(rows, pick(call.params, "start"))
        select = pick(call.params, "select")
        result = [crm.legacy_view(kind, r, select, default_multi=False) for r in page]
        return Page(result, total, following)

    return handler


def fields(kind: EntityKind) -> Callable[[Any], Any]:
    types = {
        "id": "integer",
        "int": "integer",
        "money": "double",
        "char": "char",
        "datetime": "datetime",
        "date": "date",
        "string": "string",
        "intlist": "crm_contact",
    }

    def handler(call: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in kind.fields:
            out[field.name] = {
                "type": types.get(field.kind, "string"),
                "isRequired": False,
                "isReadOnly": field.readonly,
                "isImmutable": False,
                "isMultiple": field.kind == "intlist",
                "isDynamic": False,
                "title": field.name,
            }
        for name in kind.multifields:
            out[name] = {
                "type": "crm_multifield",
                "isRequired": False,
                "isReadOnly": False,
                "isImmutable": False,
                "isMultiple": True,
                "isDynamic": False,
                "title": name,
            }
        for uf in call.portal.crm.userfields(kind):
            out[uf["FIELD_NAME"]] = {
                "type": uf["USER_TYPE_ID"],
                "isRequired": uf["MANDATORY"] == "Y",
                "isReadOnly": False,
                "isImmutable": False,
                "isMultiple": uf["MULTIPLE"] == "Y",
                "isDynamic": True,
                "title": uf["FIELD_NAME"],
                "listLabel": uf.get("LIST_COLUMN_LABEL"),
                "formLabel": uf.get("EDIT_FORM_LABEL"),
                "filterLabel": uf.get("LIST_FILTER_LABEL"),
            }
        return out

    return handler


def methods() -> dict[str, Callable[[Any], Any]]:
    table: dict[str, Callable[[Any], Any]] = {}
    for kind in (CONTACT, DEAL):
        prefix = f"crm.{kind.name}."
        table[prefix + "add"] = add(kind)
        table[prefix + "get"] = get(kind)
        table[prefix + "update"] = update(kind)
        table[prefix + "delete"] = delete(kind)
        table[prefix + "list"] = list_(kind)
        table[prefix + "fields"] = fields(kind)
    return table
