"""Masters of the catalogue: a WooCommerce product (with its variations) or a CSV / POS export,
read into canonical `Product`s.

WooCommerce (specs/woocommerce/product.json): `regular_price`, `sale_price` with
`date_on_sale_from_gmt`/`date_on_sale_to_gmt`, `manage_stock` + `stock_quantity`,
`stock_status`, `permalink`, `images[0].src`, `status` (`trash` = deleted); a variable product's
variations come from `/products/{id}/variations`. Stock per warehouse, where a shop keeps it,
is product meta `_stock_<warehouse>` (the warehouses named in catalogue.yaml).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.catalogue.model import Product, Variant, money_text
from connector.catalogue.rules import CatalogueRules
from connector.errors import ConnectorError

DELETED_STATUSES = {"trash"}
DRAFT_STATUSES = {"draft", "pending", "private"}


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _gmt(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return text if text.endswith(("Z", "+00:00")) else text + "+00:00"


def _meta(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(item.get("key")): item.get("value")
        for item in record.get("meta_data") or []
        if isinstance(item, Mapping)
    }


def _stock(record: Mapping[str, Any], rules: CatalogueRules) -> tuple[int | None, dict[str, int]]:
    by_warehouse: dict[str, int] = {}
    meta = _meta(record)
    for code in rules.warehouses:
        value = meta.get(f"_stock_{code}")
        if value not in (None, ""):
            try:
                by_warehouse[code] = int(float(str(value)))
            except ValueError:
                continue
    if by_warehouse:
        return sum(by_warehouse.values()), by_warehouse
    if record.get("manage_stock") and record.get("stock_quantity") is not None:
        return int(record["stock_quantity"]), {}
    return None, {}


def _image(record: Mapping[str, Any]) -> str | None:
    images = record.get("images") or []
    if images and isinstance(images[0], Mapping):
        return _text(images[0].get("src"))
    image = record.get("image")
    return _text(image.get("src")) if isinstance(image, Mapping) else None


def _variant(
    record: Mapping[str, Any], name: str, rules: CatalogueRules, parent: Mapping[str, Any]
) -> Variant:
    stock, by_warehouse = _stock(record, rules)
    regular = money_text(record.get("regular_price") or record.get("price"))
    sale = money_text(record.get("sale_price"))
    return Variant(
        variant_id=str(record["id"]),
        sku=_text(record.get("sku")),
        name=name[:300],
        price=rules.round(regular),
        currency=rules.currency,
        sale_price=rules.round(sale),
        sale_from=_gmt(record.get("date_on_sale_from_gmt")) if sale else None,
        sale_to=_gmt(record.get("date_on_sale_to_gmt")) if sale else None,
        stock=stock,
        stock_by_warehouse=by_warehouse,
        in_stock=str(record.get("stock_status") or "instock") != "outofstock",
        image_url=_image(record) or _image(parent),
        url=_text(record.get("permalink")) or _text(parent.get("permalink")),
    )


def _variation_name(product_name: str, record: Mapping[str, Any]) -> str:
    options = [
        str(a.get("option")) for a in record.get("attributes") or [] if isinstance(a, Mapping)
    ]
    return f"{product_name} ({', '.join(options)})" if options else product_name


def from_woocommerce(
    record: Mapping[str, Any], variations: Sequence[Mapping[str, Any]], rules: CatalogueRules
) -> Product:
    """A WooCommerce product (and its variations, for a variable product) as a canonical one."""
    name = _text(record.get("name")) or f"Product {record['id']}"
    status = str(record.get("status") or "publish")
    if variations:
        variants = tuple(_variant(v, _variation_name(name, v), rules, record) for v in variations)
    else:
        variants = (_variant(record, name, rules, record),)
    return Product(
        product_id=str(record["id"]),
        name=name[:300],
        variants=variants,
        master="woocommerce",
        status="deleted"
        if status in DELETED_STATUSES
        else "draft"
        if status in DRAFT_STATUSES
        else "active",
        description=_text(record.get("short_description")),
        url=_text(record.get("permalink")),
        image_url=_image(record),
        modified=_gmt(record.get("date_modified_gmt")),
    )


# -- a CSV or POS export -------------------------------------------------------------------------


class CatalogueFileError(ConnectorError):
    """A line of the master's export that cannot be read (names file, line and column)."""


@dataclass(frozen=True)
class FileProblem:
    file: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        column = f" column {self.column}:" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.message}"


def from_csv(path: str, rules: CatalogueRules, problems: list[FileProblem]) -> Iterator[Product]:
    """Products of a CSV / POS export: one row per variant, rows of a product next to each other
    (a product id column, or the SKU when there is none). Bad rows go to `problems`, their
    product is left out (a product missing a variant would be copied wrong)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as error:
        raise CatalogueFileError(f"{path}: cannot read: {error.strerror}") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    headers = set(reader.fieldnames or [])
    columns = rules.columns
    for needed in ("sku", "name", "price"):
        if columns[needed] not in headers:
            raise CatalogueFileError(f"{path}:1: no column {columns[needed]!r} ({needed})")
    current: str | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    for line, row in enumerate(reader, start=2):
        pid = (row.get(columns["product_id"]) or row.get(columns["sku"]) or "").strip()
        if current is not None and pid != current:
            product = _csv_product(path, current, rows, rules, problems)
            if product is not None:
                yield product
            rows = []
        current = pid
        rows.append((line, row))
    if current is not None and rows:
        product = _csv_product(path, current, rows, rules, problems)
        if product is not None:
            yield product


def _csv_product(
    path: str,
    product_id: str,
    rows: list[tuple[int, dict[str, str]]],
    rules: CatalogueRules,
    problems: list[FileProblem],
) -> Product | None:
    columns = rules.columns
    variants = []
    for line, row in rows:

        def cell(name: str, row: dict[str, str] = row) -> str | None:
            return _text(row.get(columns[name]))

        if not product_id:
            problems.append(FileProblem(path, line, columns["sku"], "empty SKU and product id"))
            return None
        try:
            price = money_text(cell("price"))
            sale = money_text(cell("sale_price"))
        except ValueError as error:
            problems.append(FileProblem(path, line, columns["price"], str(error)))
            return None
        stock_text = cell("stock")
        try:
            stock = int(float(stock_text)) if stock_text is not None else None
        except ValueError:
            problems.append(
                FileProblem(path, line, columns["stock"], f"not a number: {stock_text!r}")
            )
            return None
        variants.append(
            Variant(
                variant_id=cell("variant_id") or cell("sku") or product_id,
                sku=cell("sku"),
                name=(cell("name") or product_id)[:300],
                price=rules.round(price),
                currency=rules.currency,
                sale_price=rules.round(sale),
                sale_from=cell("sale_from") if sale else None,
                sale_to=cell("sale_to") if sale else None,
                stock=stock,
                in_stock=stock is None or stock > 0,
                image_url=cell("image_url"),
                url=cell("url"),
            )
        )
    first = rows[0][1]
    status = (_text(first.get(columns["status"])) or "active").lower()
    return Product(
        product_id=product_id,
        name=variants[0].name,
        variants=tuple(variants),
        master=rules.master,
        status="deleted" if status in {"deleted", "trash", "0", "no"} else "active",
        description=_text(first.get(columns["description"])),
        url=variants[0].url,
        image_url=variants[0].image_url,
    )
