"""``crm.contact.userfield.*`` and ``crm.deal.userfield.*``: custom ``UF_CRM_*`` fields.

https://apidocs.bitrix24.com/api-reference/crm/contacts/userfield/crm-contact-userfield-add.html:
``FIELD_NAME`` gets the ``UF_CRM_`` prefix, at most 50 characters of ``A-Z0-9_``; the answer is the
id (specs/bitrix24/responses/crm.contact.userfield.add.response.json).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import errors
from ..crm import UF_KINDS
from ..fields import CONTACT, DEAL, EntityKind
from ..listing import compile_filter, sort_records
from ..params import as_bool, as_int, as_list, pick


def _descriptor_from(call: Any, kind: EntityKind, fields: dict[str, Any]) -> dict[str, Any]:
    upper = {str(k).upper(): v for k, v in fields.items()}
    name = str(upper.get("FIELD_NAME") or "").strip().upper()
    if not name:
        raise errors.ApiError("ERROR_CORE", "Field name is not specified.<br>")
    if not name.startswith("UF_CRM_"):
        name = "UF_CRM_" + name
    if not re.fullmatch(r"UF_CRM_[A-Z0-9_]+", name) or len(name) > 50:
        raise errors.ApiError(
            "ERROR_CORE",
            "The field code may contain only Latin letters, digits and underscores and must not "
            "exceed 50 characters.<br>",
        )
    if call.portal.crm.userfield(kind, name) is not None:
        raise errors.ApiError("ERROR_CORE", f"Field {name} already exists.<br>")
    user_type = str(upper.get("USER_TYPE_ID") or "string").lower()
    if user_type not in UF_KINDS:
        raise errors.ApiError("ERROR_CORE", f"Unknown user type: {user_type}.<br>")
    label = upper.get("LABEL") or upper.get("EDIT_FORM_LABEL") or name
    state = call.portal.state
    descriptor: dict[str, Any] = {
        "ID": str(state.next_id("userfield", start=101)),
        "ENTITY_ID": kind.uf_entity,
        "FIELD_NAME": name,
        "USER_TYPE_ID": user_type,
        "XML_ID": upper.get("XML_ID"),
        "SORT": str(upper.get("SORT") or 100),
        "MULTIPLE": "Y" if as_bool(upper.get("MULTIPLE")) else "N",
        "MANDATORY": "Y" if as_bool(upper.get("MANDATORY")) else "N",
        "SHOW_FILTER": "Y" if as_bool(upper.get("SHOW_FILTER")) else "N",
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N",
        "SETTINGS": upper.get("SETTINGS") if isinstance(upper.get("SETTINGS"), dict) else {},
        "EDIT_FORM_LABEL": upper.get("EDIT_FORM_LABEL") or label,
        "LIST_COLUMN_LABEL": upper.get("LIST_COLUMN_LABEL") or label,
        "LIST_FILTER_LABEL": upper.get("LIST_FILTER_LABEL") or label,
        "ERROR_MESSAGE": upper.get("ERROR_MESSAGE"),
        "HELP_MESSAGE": upper.get("HELP_MESSAGE"),
    }
    if user_type == "enumeration":
        descriptor["LIST"] = [
            {
                "ID": str(state.next_id("enum", start=1)),
                "SORT": str((item or {}).get("SORT", 10 * (n + 1))),
                "VALUE": (item or {}).get("VALUE"),
                "DEF": (item or {}).get("DEF", "N"),
                "XML_ID": (item or {}).get("XML_ID"),
            }
            for n, item in enumerate(as_list(upper.get("LIST")))
            if isinstance(item, dict)
        ]
    return descriptor


def add(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> int:
        fields = pick(call.params, "fields")
        if not isinstance(fields, dict):
            raise errors.legacy("Parameter 'fields' must be array.")
        descriptor = _descriptor_from(call, kind, fields)
        state = call.portal.state
        state.userfields.append(descriptor)
        empty = [] if descriptor["MULTIPLE"] == "Y" else None
        for record in call.portal.crm.records(kind).values():
            record.setdefault(descriptor["FIELD_NAME"], empty)
        return int(descriptor["ID"])

    return handler


def _resolver(name: str) -> Any:
    return (lambda d, n=name.upper(): d.get(n), "int" if name.upper() == "ID" else "string")


def list_(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> list[dict[str, Any]]:
        matches = compile_filter(pick(call.params, "filter"), _resolver, 0, strict=False)
        found = [d for d in call.portal.crm.userfields(kind) if matches(d)]
        return sort_records(found, pick(call.params, "order"), _resolver, "ID")

    return handler


def _find(call: Any, kind: EntityKind) -> dict[str, Any]:
    wanted = as_int(pick(call.params, "id"))
    for descriptor in call.portal.crm.userfields(kind):
        if as_int(descriptor["ID"]) == wanted:
            return descriptor
    raise errors.ApiError("ERROR_NOT_FOUND", f"The entity with ID '{wanted}' is not found.")


def get(kind: EntityKind) -> Callable[[Any], Any]:
    return lambda call: _find(call, kind)


def update(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> bool:
        descriptor = _find(call, kind)
        fields = pick(call.params, "fields")
        if not isinstance(fields, dict):
            raise errors.legacy("Parameter 'fields' must be array.")
        for key, value in fields.items():
            upper = str(key).upper()
            if upper in {"ID", "ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "MULTIPLE"}:
                continue
            descriptor[upper] = value
        return True

    return handler


def delete(kind: EntityKind) -> Callable[[Any], Any]:
    def handler(call: Any) -> bool:
        descriptor = _find(call, kind)
        call.portal.state.userfields.remove(descriptor)
        for record in call.portal.crm.records(kind).values():
            record.pop(descriptor["FIELD_NAME"], None)
        return True

    return handler


def methods() -> dict[str, Callable[[Any], Any]]:
    table: dict[str, Callable[[Any], Any]] = {}
    for kind in (CONTACT, DEAL):
        prefix = f"crm.{kind.name}.userfield."
        table[prefix + "add"] = add(kind)
        table[prefix + "list"] = list_(kind)
        table[prefix + "get"] = get(kind)
        table[prefix + "update"] = update(kind)
        table[prefix + "delete"] = delete(kind)
    return table
