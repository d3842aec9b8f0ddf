"""Field catalogs of contacts and deals: legacy (UPPER_CASE) and crm.item (camelCase) names.

Names, kinds and wire types follow the documented examples: legacy methods print ids and money as
strings (``"ID": "43"``, ``"OPPORTUNITY": "1000000.00"``), crm.item prints ints and floats
(specs/bitrix24/responses/crm.contact.get, crm.deal.get, crm.item.get).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import timefmt

MULTIFIELD_TYPES = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
VALUE_TYPES = {
    "PHONE": ("WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"),
    "EMAIL": ("WORK", "HOME", "MAILING", "OTHER"),
    "WEB": ("WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"),
    "IM": ("SKYPE", "ICQ", "MSN", "JABBER", "TELEGRAM", "VIBER", "IMOL", "OTHER"),
    "LINK": ("USER",),
}


@dataclass(frozen=True)
class Field:
    """One standard field: ``kind`` decides parsing and printing; ``hidden`` keeps it out of *."""

    name: str
    item: str | None
    kind: str
    readonly: bool = False
    hidden: bool = False


def _f(name: str, item: str | None, kind: str, **flags: bool) -> Field:
    return Field(name, item, kind, **flags)


_UTM = [
    _f("UTM_SOURCE", "utmSource", "string"),
    _f("UTM_MEDIUM", "utmMedium", "string"),
    _f("UTM_CAMPAIGN", "utmCampaign", "string"),
    _f("UTM_CONTENT", "utmContent", "string"),
    _f("UTM_TERM", "utmTerm", "string"),
]

CONTACT_FIELDS: tuple[Field, ...] = (
    _f("ID", "id", "id", readonly=True),
    _f("POST", "post", "string"),
    _f("COMMENTS", "comments", "string"),
    _f("HONORIFIC", "honorific", "string"),
    _f("NAME", "name", "string"),
    _f("SECOND_NAME", "secondName", "string"),
    _f("LAST_NAME", "lastName", "string"),
    _f("PHOTO", "photo", "string"),
    _f("LEAD_ID", "leadId", "int"),
    _f("TYPE_ID", "typeId", "string"),
    _f("SOURCE_ID", "sourceId", "string"),
    _f("SOURCE_DESCRIPTION", "sourceDescription", "string"),
    _f("COMPANY_ID", "companyId", "int"),
    _f("BIRTHDATE", "birthdate", "date"),
    _f("EXPORT", "export", "char"),
    _f("HAS_PHONE", "hasPhone", "char", readonly=True),
    _f("HAS_EMAIL", "hasEmail", "char", readonly=True),
    _f("HAS_IMOL", "hasImol", "char", readonly=True),
    _f("DATE_CREATE", "createdTime", "datetime", readonly=True),
    _f("DATE_MODIFY", "updatedTime", "datetime", readonly=True),
    _f("ASSIGNED_BY_ID", "assignedById", "int"),
    _f("CREATED_BY_ID", "createdBy", "int", readonly=True),
    _f("MODIFY_BY_ID", "updatedBy", "int", readonly=True),
    _f("OPENED", "opened", "char"),
    _f("ORIGINATOR_ID", "originatorId", "string"),
    _f("ORIGIN_ID", "originId", "string"),
    _f("ORIGIN_VERSION", "originVersion", "string"),
    _f("FACE_ID", "faceId", "int"),
    _f("LAST_ACTIVITY_TIME", "lastActivityTime", "datetime", readonly=True),
    _f("ADDRESS", None, "string"),
    _f("ADDRESS_2", None, "string"),
    _f("ADDRESS_CITY", None, "string"),
    _f("ADDRESS_POSTAL_CODE", None, "string"),
    _f("ADDRESS_REGION", None, "string"),
    _f("ADDRESS_PROVINCE", None, "string"),
    _f("ADDRESS_COUNTRY", None, "string"),
    _f("ADDRESS_LOC_ADDR_ID", None, "int"),
    *_UTM,
    _f("LAST_ACTIVITY_BY", "lastActivityBy", "int", readonly=True),
    _f("COMPANY_IDS", "companyIds", "intlist", hidden=True),
)

DEAL_FIELDS: tuple[Field, ...] = (
    _f("ID", "id", "id", readonly=True),
    _f("TITLE", "title", "string"),
    _f("TYPE_ID", "typeId", "string"),
    _f("STAGE_ID", "stageId", "string"),
    _f("PROBABILITY", "probability", "int"),
    _f("CURRENCY_ID", "currencyId", "string"),
    _f("OPPORTUNITY", "opportunity", "money"),
    _f("IS_MANUAL_OPPORTUNITY", "isManualOpportunity", "char"),
    _f("TAX_VALUE", "taxValue", "money"),
    _f("LEAD_ID", "leadId", "int"),
    _f("COMPANY_ID", "companyId", "int"),
    _f("CONTACT_ID", "contactId", "int"),
    _f("QUOTE_ID", "quoteId", "int"),
    _f("BEGINDATE", "begindate", "date"),
    _f("CLOSEDATE", "closedate", "date"),
    _f("ASSIGNED_BY_ID", "assignedById", "int"),
    _f("CREATED_BY_ID", "createdBy", "int", readonly=True),
    _f("MODIFY_BY_ID", "updatedBy", "int", readonly=True),
    _f("DATE_CREATE", "createdTime", "datetime", readonly=True),
    _f("DATE_MODIFY", "updatedTime", "datetime", readonly=True),
    _f("OPENED", "opened", "char"),
    _f("CLOSED", "closed", "char", readonly=True),
    _f("COMMENTS", "comments", "string"),
    _f("ADDITIONAL_INFO", None, "string"),
    _f("LOCATION_ID", "locationId", "string"),
    _f("CATEGORY_ID", "categoryId", "int"),
    _f("STAGE_SEMANTIC_ID", "stageSemanticId", "string", readonly=True),
    _f("IS_NEW", "isNew", "char", readonly=True),
    _f("IS_RECURRING", "isRecurring", "char"),
    _f("IS_RETURN_CUSTOMER", "isReturnCustomer", "char"),
    _f("IS_REPEATED_APPROACH", "isRepeatedApproach", "char"),
    _f("SOURCE_ID", "sourceId", "string"),
    _f("SOURCE_DESCRIPTION", "sourceDescription", "string"),
    _f("ORIGINATOR_ID", "originatorId", "string"),
    _f("ORIGIN_ID", "originId", "string"),
    _f("MOVED_BY_ID", "movedBy", "int", readonly=True),
    _f("MOVED_TIME", "movedTime", "datetime", readonly=True),
    _f("LAST_ACTIVITY_TIME", "lastActivityTime", "datetime", readonly=True),
    *_UTM,
    _f("LAST_ACTIVITY_BY", "lastActivityBy", "int", readonly=True),
    _f("CONTACT_IDS", "contactIds", "intlist", hidden=True),
)


@dataclass(frozen=True)
class EntityKind:
    """A CRM entity type the portal keeps: contact (entityTypeId 3) or deal (entityTypeId 2)."""

    name: str
    title: str
    entity_type_id: int
    uf_entity: str
    event_prefix: str
    fields: tuple[Field, ...]
    multifields: tuple[str, ...]

    def field(self, name: str) -> Field | None:
        return _BY_NAME[self.name].get(name.upper())

    def field_by_item(self, item_name: str) -> Field | None:
        return _BY_ITEM[self.name].get(item_name)


CONTACT = EntityKind(
    "contact", "Contact", 3, "CRM_CONTACT", "ONCRMCONTACT", CONTACT_FIELDS, MULTIFIELD_TYPES
)
DEAL = EntityKind("deal", "Deal", 2, "CRM_DEAL", "ONCRMDEAL", DEAL_FIELDS, ())
KINDS = {"contact": CONTACT, "deal": DEAL}
KINDS_BY_TYPE_ID = {3: CONTACT, 2: DEAL}

_BY_NAME = {k.name: {f.name: f for f in k.fields} for k in KINDS.values()}
_BY_ITEM = {k.name: {f.item: f for f in k.fields if f.item} for k in KINDS.values()}


def uf_item_name(uf_name: str) -> str:
    """``UF_CRM_1747309879`` -> ``ufCrm_1747309879``; ``UF_CRM_3_17473`` -> ``ufCrm3_17473``;
    ``UF_CRM_LOYALTY_ID`` -> ``ufCrmLoyaltyId``
    (https://apidocs.bitrix24.com/api-reference/crm/universal/index.html).
    """
    rest = uf_name[len("UF_CRM_") :] if uf_name.upper().startswith("UF_CRM_") else uf_name
    parts = [p for p in rest.split("_") if p]
    out = "ufCrm"
    for index, part in enumerate(parts):
        if part.isdigit():
            entity_prefix = index == 0 and len(parts) > 1 and parts[1].isdigit()
            out += part if entity_prefix else f"_{part}"
        else:
            out += part[:1].upper() + part[1:].lower()
    return out


def coerce(kind: str, value: Any, offset_hours: int) -> Any:
    """A request value in the emulator's own types (ints, floats, unix times, dates)."""
    if value is None or (value == "" and kind not in {"string"}):
        return None
    if kind in {"id", "int"}:
        try:
            return int(float(str(value)))
        except ValueError:
            return None
    if kind == "money":
        try:
            return round(float(str(value).replace(",", ".")), 2)
        except ValueError:
            return None
    if kind == "char":
        if isinstance(value, bool):
            return "Y" if value else "N"
        return "Y" if str(value).strip().upper() in {"Y", "1", "TRUE"} else "N"
    if kind == "datetime":
        return timefmt.parse_moment(value, offset_hours)
    if kind == "date":
        return timefmt.parse_day(value, offset_hours)
    if kind == "intlist":
        items = (
            value
            if isinstance(value, list)
            else list(value.values())
            if isinstance(value, dict)
            else [value]
        )
        return [int(v) for v in items if str(v).strip().lstrip("-").isdigit()]
    return str(value)


def legacy_value(kind: str, value: Any, offset_hours: int) -> Any:
    """How a legacy crm.contact.* / crm.deal.* answer prints a stored value."""
    if value is None:
        return None
    if kind in {"id", "int"}:
        return str(value)
    if kind == "money":
        return f"{value:.2f}"
    if kind == "datetime":
        return timefmt.iso(value, offset_hours)
    if kind == "date":
        return timefmt.iso_date(value, offset_hours)
    if kind == "intlist":
        return [str(v) for v in value]
    return value


def item_value(kind: str, value: Any, offset_hours: int) -> Any:
    """How a crm.item.* answer prints a stored value (ints and floats, not strings)."""
    if value is None:
        return [] if kind == "intlist" else None
    if kind == "money":
        return float(value)
    if kind == "datetime":
        return timefmt.iso(value, offset_hours)
    if kind == "date":
        return timefmt.iso_date(value, offset_hours)
    return value


def is_uf(name: str) -> bool:
    return bool(re.match(r"^UF_", name, re.IGNORECASE))
