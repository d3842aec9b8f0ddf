"""``crm.product.*``: the portal's product catalogue (add/get/update/delete/list/fields).

Docs: https://dev.1c-bitrix.ru/rest_help/crm/products/index.php (crm.product.add, .update,
.list with filter/select/order/start, PROPERTY_<id> values). Kept in an id-ordered index, so
the fast ``>ID`` + ``start=-1`` paging costs a page, not a scan, on a 200,000-item catalogue.
The same catalogue holds the items deal product rows refer to by ``PRODUCT_ID``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import errors
from ..listing import PAGE_SIZE, Page, split_operator
from ..params import as_int, as_list, pick

FIELDS = (
    "ID", "NAME", "ACTIVE", "PRICE", "CURRENCY_ID", "XML_ID", "DESCRIPTION", "SORT",
    "SECTION_ID", "MEASURE", "VAT_ID", "VAT_INCLUDED", "DATE_CREATE", "TIMESTAMP_X",
)  # fmt: skip


class Catalog:
    """The items and their ids in order; bound to one ``records`` dict, so a reset clears it."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.items: dict[int, dict[str, Any]] = {}
        self.ids: list[int] = []  # ascending: new ids are always larger


def catalog(call: Any) -> Catalog:
    state = call.portal.state
    with state.lock:
        found = getattr(state, "_sandbox_catalog", None)
        if found is None or found.records is not state.records:
            found = Catalog(state.records)
            state._sandbox_catalog = found
        return found


def _price(value: Any) -> str:
    try:
        number = Decimal(str(value if value not in (None, "") else 0).replace(",", "."))
    except InvalidOperation:
        raise errors.legacy("PRICE must be a number.") from None
    return f"{number:.2f}"


def _fields(call: Any) -> dict[str, Any]:
    fields = pick(call.params, "fields")
    if not isinstance(fields, dict):
        raise errors.legacy("Parameter 'fields' must be array.")
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = str(key).upper()
        if name in FIELDS or name.startswith("PROPERTY_"):
            out[name] = _price(value) if name == "PRICE" else value
    return out


def _existing(call: Any) -> dict[str, Any]:
    product_id = as_int(pick(call.params, "id"))
    if product_id is None or product_id <= 0:
        raise errors.legacy("ID is not defined or invalid.")
    found = catalog(call).items.get(product_id)
    if found is None:
        raise errors.legacy("Product is not found.")
    return found


def add(call: Any) -> int:
    fields = _fields(call)
    if not fields.get("NAME"):
        raise errors.legacy("The field 'NAME' is required.")
    state = call.portal.state
    with state.lock:
        shelf = catalog(call)
        product_id = state.next_id("product")
        now = state.now()
        shelf.items[product_id] = {
            "ID": str(product_id),
            "ACTIVE": "Y",
            "PRICE": "0.00",
            "CURRENCY_ID": "USD",
            "XML_ID": "",
            "SORT": "500",
            "DATE_CREATE": now,
            "TIMESTAMP_X": now,
            **fields,
        }
        shelf.ids.append(product_id)
    return product_id


def update(call: Any) -> bool:
    with call.portal.state.lock:
        record = _existing(call)
        record.update(_fields(call))
        record["TIMESTAMP_X"] = call.portal.state.now()
    return True


def get(call: Any) -> dict[str, Any]:
    with call.portal.state.lock:
        return dict(_existing(call))


def delete(call: Any) -> bool:
    with call.portal.state.lock:
        record = _existing(call)
        shelf = catalog(call)
        product_id = int(record["ID"])
        del shelf.items[product_id]
        shelf.ids.remove(product_id)
    return True


def _test(key: str, wanted: Any) -> Callable[[dict[str, Any]], bool]:
    op, name = split_operator(str(key))
    name = name.upper()
    if name == "ID":
        target = as_int(wanted, 0) or 0
        targets = {as_int(w, 0) for w in as_list(wanted)}
        tests = {
            ">": lambda r: int(r["ID"]) > target,
            ">=": lambda r: int(r["ID"]) >= target,
            "<": lambda r: int(r["ID"]) < target,
            "<=": lambda r: int(r["ID"]) <= target,
            "@": lambda r: int(r["ID"]) in targets,
            "=": lambda r: int(r["ID"]) in targets,
        }
        if op not in tests:
            raise errors.invalid_arg(f"Invalid filter: operator {op} on ID")
        return tests[op]
    values = {str(w) for w in as_list(wanted)}
    if op in {"=", "@"}:
        return lambda r: str(r.get(name, "")) in values
    if op in {"!", "!=", "!@"}:
        return lambda r: str(r.get(name, "")) not in values
    raise errors.invalid_arg(f"Invalid filter: operator {op} on {name}")


def list_(call: Any) -> Page:
    filter_ = pick(call.params, "filter") or {}
    if not isinstance(filter_, dict):
        raise errors.invalid_arg("Invalid filter")
    order = pick(call.params, "order") or {}
    if isinstance(order, dict) and any(
        str(k).upper() != "ID" or str(v).upper() != "ASC" for k, v in order.items()
    ):
        raise errors.invalid_arg("The sandbox orders products by ID ascending only")
    tests = [_test(k, v) for k, v in filter_.items()]
    after = 0
    for key, value in filter_.items():
        op, name = split_operator(str(key))
        if name.upper() == "ID" and op in {">", ">="}:
            after = (as_int(value, 0) or 0) - (1 if op == ">=" else 0)
    start = as_int(pick(call.params, "start"), 0) or 0
    select = [str(s).upper() for s in as_list(pick(call.params, "select"))]
    with call.portal.state.lock:
        shelf = catalog(call)
        position = bisect.bisect_right(shelf.ids, after)
        rows: list[dict[str, Any]] = []
        skipped, total = 0, 0
        for product_id in shelf.ids[position:]:
            record = shelf.items[product_id]
            if not all(test(record) for test in tests):
                continue
            total += 1
            if start > 0 and skipped < start:
                skipped += 1
                continue
            if len(rows) < PAGE_SIZE:
                rows.append(record)
            elif start == -1:
                break
    if select and "*" not in select:
        wanted = ["ID", *select]
        rows = [{k: r.get(k) for k in wanted} for r in rows]
    else:
        rows = [dict(r) for r in rows]
    if start == -1:
        return Page(rows, 0, None)
    following = start + PAGE_SIZE
    return Page(rows, total, following if following < total else None)


def fields(call: Any) -> dict[str, Any]:
    return {
        name: {"type": "double" if name == "PRICE" else "string", "isRequired": name == "NAME"}
        for name in FIELDS
    }


def methods() -> dict[str, Callable[[Any], Any]]:
    return {
        "crm.product.add": add,
        "crm.product.update": update,
        "crm.product.get": get,
        "crm.product.delete": delete,
        "crm.product.list": list_,
        "crm.product.fields": fields,
    }
