"""The universal ``crm.item.*`` methods over the same contacts (entityTypeId 3) and deals (2).

camelCase names, ints and floats, ``{"item": {...}}`` / ``{"items": [...]}`` wrappers and the ``fm``
multifield (specs/bitrix24/responses/crm.item.*; errors/crm.item.get.NOT_FOUND.json).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import errors
from ..fields import KINDS_BY_TYPE_ID, EntityKind
from ..listing import Page, compile_filter, paginate, sort_records
from ..params import as_bool, as_int, pick


def _kind(call: Any) -> EntityKind:
    type_id = as_int(pick(call.params, "entityTypeId"))
    if type_id is None:
        raise errors.ApiError("", "entityTypeId is required", 400)
    kind = KINDS_BY_TYPE_ID.get(type_id)
    if kind is None:
        raise errors.ApiError(
            "NOT_FOUND", f"Entity type {type_id} is not emulated by the sandbox", 400
        )
    return kind


def _original_uf(call: Any) -> bool:
    return as_bool(pick(call.params, "useOriginalUfNames"))


def _record(call: Any, kind: EntityKind) -> dict[str, Any]:
    record = call.portal.crm.find(kind, pick(call.params, "id"))
    if record is None:
        raise errors.not_found_item()
    return record


def _fields(call: Any) -> dict[str, Any]:
    fields = pick(call.params, "fields")
    if fields in (None, ""):
        return {}
    if not isinstance(fields, dict):
        raise errors.invalid_arg("Parameter 'fields' must be an array")
    return fields


def item_add(call: Any) -> dict[str, Any]:
    kind = _kind(call)
    crm = call.portal.crm
    legacy, fm = crm.item_fields_to_legacy(kind, _fields(call))
    record_id = crm.add(
        kind,
        legacy,
        call.caller.user_id,
        call.connector,
        fm=fm if isinstance(fm, list | dict) else None,
    )
    record = crm.find(kind, record_id)
    return {"item": crm.item_view(kind, record, original_uf=_original_uf(call))}


def item_get(call: Any) -> dict[str, Any]:
    kind = _kind(call)
    record = _record(call, kind)
    return {"item": call.portal.crm.item_view(kind, record, original_uf=_original_uf(call))}


def item_update(call: Any) -> dict[str, Any]:
    kind = _kind(call)
    record = _record(call, kind)
    crm = call.portal.crm
    legacy, fm = crm.item_fields_to_legacy(kind, _fields(call))
    crm.update(
        kind,
        record,
        legacy,
        call.caller.user_id,
        call.connector,
        fm=fm,
        allow_category_move=True,
        fire_unchanged=False,
    )
    return {"item": crm.item_view(kind, record, original_uf=_original_uf(call))}


def item_delete(call: Any) -> list[Any]:
    kind = _kind(call)
    record = _record(call, kind)
    call.portal.crm.delete(kind, record, call.caller.user_id, call.connector)
    return []


def item_list(call: Any) -> Page:
    kind = _kind(call)
    crm = call.portal.crm
    resolve = crm.item_resolver(kind)
    matches = compile_filter(pick(call.params, "filter"), resolve, crm.offset, strict=True)
    rows = [r for r in crm.records(kind).values() if matches(r)]
    rows = sort_records(rows, pick(call.params, "order"), resolve, "id")
    page, total, following = paginate(rows, pick(call.params, "start"))
    select = pick(call.params, "select")
    original = _original_uf(call)
    items = [crm.item_view(kind, r, select, original_uf=original) for r in page]
    return Page({"items": items}, total, following)


def item_fields(call: Any) -> dict[str, Any]:
    kind = _kind(call)
    out: dict[str, Any] = {}
    for field in kind.fields:
        if field.item:
            out[field.item] = {
                "type": field.kind,
                "isRequired": False,
                "isReadOnly": field.readonly,
                "isMultiple": field.kind == "intlist",
                "title": field.name,
                "upperName": field.name,
            }
    return {"fields": out}


def methods() -> dict[str, Callable[[Any], Any]]:
    return {
        "crm.item.add": item_add,
        "crm.item.get": item_get,
        "crm.item.update": item_update,
        "crm.item.delete": item_delete,
        "crm.item.list": item_list,
        "crm.item.fields": item_fields,
    }
