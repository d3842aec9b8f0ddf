"""Deal product rows, duplicate search, stages and funnels, timeline comments.

Shapes: specs/bitrix24/responses/crm.deal.productrows.*, crm.duplicate.findbycomm*,
crm.status.list.DEAL_STAGE, crm.timeline.comment.add; refusals:
specs/bitrix24/errors/crm.deal.productrows.set.ERROR_CORE.400.json,
crm.duplicate.findbycomm.400.json, crm.status.list.400.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import errors, timefmt
from ..fields import CONTACT, DEAL
from ..listing import Page, compile_filter, sort_records
from ..params import as_int, as_list, pick

DISCOUNT_MONETARY = 1
DISCOUNT_PERCENTAGE = 2


def _number(value: Any) -> int | float:
    """Numbers print like the portal's: ``100`` for whole values, ``899.1`` otherwise."""
    rounded = round(float(value), 2)
    return int(rounded) if rounded == int(rounded) else rounded


def _float(value: Any, default: float | None = None) -> float | None:
    try:
        return float(str(value).replace(",", "."))
    except (TypeError, ValueError):
        return default


def _row(call: Any, deal_id: int, raw: dict[str, Any], position: int) -> dict[str, Any]:
    item = {str(k).upper(): v for k, v in raw.items()}
    tax_rate = _float(item.get("TAX_RATE"))
    tax = (tax_rate or 0.0) / 100
    price = _float(item.get("PRICE"))
    if price is None:
        exclusive = _float(item.get("PRICE_EXCLUSIVE"), 0.0) or 0.0
        price = exclusive * (1 + tax)
    exclusive = price / (1 + tax)
    explicit_type = as_int(item.get("DISCOUNT_TYPE_ID"))
    discount_type = explicit_type or DISCOUNT_PERCENTAGE
    rate = _float(item.get("DISCOUNT_RATE"))
    discount_sum = _float(item.get("DISCOUNT_SUM"))
    if discount_type == DISCOUNT_MONETARY:
        if discount_sum is None:
            raise errors.ApiError(
                "ERROR_CORE",
                "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type "
                "(DISCOUNT_TYPE_ID) is defined<br>",
            )
        netto = exclusive + discount_sum
        rate = discount_sum / netto * 100 if netto else 0.0
    else:
        if explicit_type is not None and rate is None:
            raise errors.ApiError(
                "ERROR_CORE",
                "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type "
                "(DISCOUNT_TYPE_ID) is defined<br>",
            )
        rate = rate or 0.0
        if rate >= 100:
            if discount_sum is None:
                raise errors.ApiError(
                    "ERROR_CORE",
                    "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type "
                    "(DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>",
                )
            netto = exclusive + discount_sum
        else:
            netto = exclusive / (1 - rate / 100)
            discount_sum = netto - exclusive
    name = item.get("PRODUCT_NAME") or ""
    quantity = _float(item.get("QUANTITY"), 1.0)
    return {
        "ID": str(call.portal.state.next_id("productrow")),
        "OWNER_ID": str(deal_id),
        "OWNER_TYPE": "D",
        "PRODUCT_ID": as_int(item.get("PRODUCT_ID"), 0),
        "PRODUCT_NAME": name,
        "ORIGINAL_PRODUCT_NAME": name,
        "PRODUCT_DESCRIPTION": item.get("PRODUCT_DESCRIPTION"),
        "PRICE": _number(price),
        "PRICE_EXCLUSIVE": _number(exclusive),
        "PRICE_NETTO": _number(netto),
        "PRICE_BRUTTO": _number(netto * (1 + tax)),
        "PRICE_ACCOUNT": f"{price:.2f}",
        "QUANTITY": _number(quantity if quantity is not None else 1),
        "DISCOUNT_TYPE_ID": discount_type,
        "DISCOUNT_RATE": _number(rate),
        "DISCOUNT_SUM": _number(discount_sum or 0),
        "TAX_RATE": None if tax_rate is None else _number(tax_rate),
        "TAX_INCLUDED": "N" if str(item.get("TAX_INCLUDED", "Y")).upper() == "N" else "Y",
        "CUSTOMIZED": "Y",
        "MEASURE_CODE": as_int(item.get("MEASURE_CODE"), 796),
        "MEASURE_NAME": item.get("MEASURE_NAME") or "pcs",
        "SORT": as_int(item.get("SORT"), 10 * position),
        "XML_ID": item.get("XML_ID"),
        "TYPE": 1,
        "STORE_ID": None,
        "RESERVE_ID": None,
        "DATE_RESERVE_END": None,
        "RESERVE_QUANTITY": None,
    }


def _deal(call: Any) -> dict[str, Any]:
    deal_id = as_int(pick(call.params, "id"))
    if deal_id is None or deal_id <= 0:
        raise errors.legacy("ID is not defined or invalid.")
    record = call.portal.crm.find(DEAL, deal_id)
    if record is None:
        raise errors.legacy("Not found")
    return record


def productrows_set(call: Any) -> bool:
    """Replaces every row of the deal; rows not sent are deleted."""
    record = _deal(call)
    raw_rows = [r for r in as_list(pick(call.params, "rows")) if isinstance(r, dict)]
    rows = [_row(call, record["ID"], raw, n) for n, raw in enumerate(raw_rows, start=1)]
    state = call.portal.state
    state.product_rows[record["ID"]] = rows
    crm = call.portal.crm
    if record.get("IS_MANUAL_OPPORTUNITY") != "Y":
        record["OPPORTUNITY"] = round(sum(r["PRICE"] * r["QUANTITY"] for r in rows), 2)
    crm.touch(DEAL, record, call.caller.user_id, call.connector)
    return True


def productrows_get(call: Any) -> list[dict[str, Any]]:
    record = _deal(call)
    rows = call.portal.state.product_rows.get(record["ID"], [])
    return sorted((dict(r) for r in rows), key=lambda r: (r["SORT"], int(r["ID"])))


def _camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _item_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {_camel(k): v for k, v in row.items()}
    out["id"], out["ownerId"] = int(row["ID"]), int(row["OWNER_ID"])
    return out


def _item_owner(call: Any, owner_type: Any, owner_id: Any) -> dict[str, Any]:
    if str(owner_type or "").upper() != "D":
        raise errors.ApiError(
            "NOT_FOUND", "The sandbox keeps product rows of deals only (ownerType D)"
        )
    record = call.portal.crm.find(DEAL, owner_id)
    if record is None:
        raise errors.not_found_item()
    return record


def item_productrow_set(call: Any) -> dict[str, Any]:
    """crm.item.productrow.set: the successor of crm.deal.productrows.set, also a full replace."""
    record = _item_owner(call, pick(call.params, "ownerType"), pick(call.params, "ownerId"))
    raw_rows = [r for r in as_list(pick(call.params, "productRows")) if isinstance(r, dict)]
    legacy = [{_snake(k): v for k, v in raw.items()} for raw in raw_rows]
    rows = [_row(call, record["ID"], raw, n) for n, raw in enumerate(legacy, start=1)]
    call.portal.state.product_rows[record["ID"]] = rows
    if record.get("IS_MANUAL_OPPORTUNITY") != "Y":
        record["OPPORTUNITY"] = round(sum(r["PRICE"] * r["QUANTITY"] for r in rows), 2)
    call.portal.crm.touch(DEAL, record, call.caller.user_id, call.connector)
    return {"productRows": [_item_row(r) for r in rows]}


def item_productrow_list(call: Any) -> Page:
    filter_ = pick(call.params, "filter") or {}
    if not isinstance(filter_, dict):
        raise errors.invalid_arg("Invalid filter")
    plain = {key.lstrip("=@"): value for key, value in filter_.items()}
    record = _item_owner(call, plain.get("ownerType"), plain.get("ownerId"))
    rows = call.portal.state.product_rows.get(record["ID"], [])
    return Page({"productRows": [_item_row(r) for r in rows]}, len(rows))


def duplicate_findbycomm(call: Any) -> Any:
    """Exact comparison of whole values
    (https://apidocs.bitrix24.com/api-reference/crm/duplicates/).
    """
    comm_type = str(pick(call.params, "type") or "").upper()
    if comm_type not in {"PHONE", "EMAIL"}:
        raise errors.ApiError("Communication type is not defined", "Parameter 'type' is required.")
    values = [str(v).strip() for v in as_list(pick(call.params, "values")) if str(v).strip()]
    if not values:
        raise errors.ApiError(
            "Communication values is not defined", "Parameter 'values' is required."
        )
    if len(values) > 20:
        raise errors.ApiError(
            "Too many communications", "Parameter 'values' must contain no more than 20 items."
        )
    entity_type = str(pick(call.params, "entity_type") or "").upper()
    if entity_type and entity_type != "CONTACT":
        return []
    wanted = {v.casefold() if comm_type == "EMAIL" else v for v in values}
    found = []
    for record in call.portal.crm.records(CONTACT).values():
        for entry in record["FM"]:
            value = entry["VALUE"].casefold() if comm_type == "EMAIL" else entry["VALUE"]
            if entry["TYPE_ID"] == comm_type and value in wanted:
                found.append(record["ID"])
                break
    return {"CONTACT": sorted(found)} if found else []


def _status_resolver(name: str) -> Any:
    return (
        lambda s, n=name.upper(): s.get(n),
        "int" if name.upper() in {"ID", "SORT"} else "string",
    )


def status_list(call: Any) -> Page:
    filter_ = pick(call.params, "filter")
    order = pick(call.params, "order")
    if filter_ not in (None, "") and not isinstance(filter_, dict):
        raise errors.ApiError("Invalid parameters.", "Incorrect parameters passed.")
    if order not in (None, "") and not isinstance(order, dict):
        raise errors.ApiError("Invalid parameters.", "Incorrect parameters passed.")
    matches = compile_filter(filter_, _status_resolver, 0, strict=False)
    rows = [s for s in call.portal.state.statuses if matches(s)]
    rows = sort_records(rows, order or {"SORT": "ASC"}, _status_resolver, "SORT")
    return Page([dict(s) for s in rows], len(rows))


def dealcategory_stage_list(call: Any) -> list[dict[str, Any]]:
    category = as_int(pick(call.params, "id"), 0) or 0
    return [
        {"NAME": s["NAME"], "SORT": s["SORT"], "STATUS_ID": s["STATUS_ID"]}
        for s in call.portal.state.stages(category)
    ]


def category_list(call: Any) -> dict[str, Any]:
    if as_int(pick(call.params, "entityTypeId")) != DEAL.entity_type_id:
        return {"categories": []}
    categories = [
        {
            "id": category_id,
            "name": name,
            "sort": (category_id + 1) * 100,
            "entityTypeId": 2,
            "isDefault": "Y" if category_id == 0 else "N",
        }
        for category_id, name in sorted(call.portal.state.categories.items())
    ]
    return {"categories": categories}


def timeline_comment_add(call: Any) -> int:
    """Since crm 23.100.0 only the lower-case ``fields`` key is read."""
    fields = call.params.get("fields")
    if not isinstance(fields, dict):
        raise errors.ApiError("", 'Required parameter "fields" is not specified.')
    upper = {str(k).upper(): v for k, v in fields.items()}
    entity_type = str(upper.get("ENTITY_TYPE") or "").lower()
    kind = {"contact": CONTACT, "deal": DEAL}.get(entity_type)
    if kind is None:
        raise errors.ApiError("", "Entity type is not supported by the sandbox (contact, deal).")
    record = call.portal.crm.find(kind, upper.get("ENTITY_ID"))
    if record is None:
        raise errors.ApiError("", "Entity not found.")
    comment = str(upper.get("COMMENT") or "")
    if not comment.strip():
        raise errors.ApiError("", "Empty comment message.")
    state = call.portal.state
    comment_id = state.next_id("comment", start=1)
    state.comments.append(
        {
            "ID": str(comment_id),
            "CREATED": timefmt.iso(state.now(), state.config.utc_offset_hours),
            "ENTITY_ID": str(record["ID"]),
            "ENTITY_TYPE": entity_type,
            "AUTHOR_ID": str(as_int(upper.get("AUTHOR_ID"), call.caller.user_id)),
            "COMMENT": comment,
            "FILES": [],
        }
    )
    call.portal.bus.fire(
        "ONCRMTIMELINECOMMENTADD", {"ID": str(comment_id)}, call.connector, call.caller.user_id
    )
    return comment_id


def timeline_comment_list(call: Any) -> Page:
    resolver = lambda name: (lambda c, n=name.upper(): c.get(n), "string")  # noqa: E731
    matches = compile_filter(pick(call.params, "filter"), resolver, 0, strict=False)
    rows = [dict(c) for c in call.portal.state.comments if matches(c)]
    return Page(rows, len(rows))


def methods() -> dict[str, Callable[[Any], Any]]:
    return {
        "crm.deal.productrows.set": productrows_set,
        "crm.deal.productrows.get": productrows_get,
        "crm.item.productrow.set": item_productrow_set,
        "crm.item.productrow.list": item_productrow_list,
        "crm.duplicate.findbycomm": duplicate_findbycomm,
        "crm.status.list": status_list,
        "crm.dealcategory.stage.list": dealcategory_stage_list,
        "crm.category.list": category_list,
        "crm.timeline.comment.add": timeline_comment_add,
        "crm.timeline.comment.list": timeline_comment_list,
    }
