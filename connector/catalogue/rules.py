"""Catalogue rules admins edit (`mappings/catalogue.yaml`), with errors naming file:line:field.

Which system is the master of products, prices and stock (the shop by default, or a CSV / POS
export file), whether an offline sale may write the master's stock, which copies are on
(Bitrix24, Mailchimp, a marketplace's price-list feed), the warehouses, the currency and the
price rounding, and what the checkout does with an out-of-stock line. The file shares the
mappings folder and the `connector mappings validate` run (`connector.mapping.schema.RULES_FILES`).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connector.config import mappings_folder
from connector.errors import MappingError, MappingsUnusable
from connector.mapping import loader
from connector.mapping.checker import RulesChecker
from connector.mapping.errors import MappingErrors, did_you_mean

if TYPE_CHECKING:
    from connector.config import Settings

RULES_FILE = "catalogue.yaml"
MASTERS = ("woocommerce", "csv", "pos")
CHECKOUT = ("refuse", "flag", "ignore")
TOP_KEYS = (
    "master",
    "file",
    "columns",
    "master_writes",
    "currency",
    "rounding",
    "warehouses",
    "copies",
    "checkout_out_of_stock",
)
COPY_KEYS = ("enabled", "stock_property", "currency")
# canonical column -> the CSV header that holds it (a POS export names them its own way)
CSV_COLUMNS = {
    "product_id": "product_id",
    "variant_id": "variant_id",
    "sku": "sku",
    "name": "name",
    "price": "price",
    "sale_price": "sale_price",
    "sale_from": "sale_from",
    "sale_to": "sale_to",
    "stock": "stock",
    "status": "status",
    "url": "url",
    "image_url": "image_url",
    "description": "description",
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PROPERTY = re.compile(r"^PROPERTY_[A-Z0-9_]{1,50}$")


@dataclass(frozen=True)
class CopyRules:
    enabled: bool = True
    stock_property: str | None = None  # Bitrix24: the product property that holds the stock


@dataclass(frozen=True)
class CatalogueRules:
    """The rules in force; `CatalogueRules()` (the shop is master, every copy on) without a file."""

    master: str = "woocommerce"
    file: str | None = None  # the CSV / POS export, when such is the master
    columns: dict[str, str] = field(default_factory=lambda: dict(CSV_COLUMNS))
    master_writes: bool = False  # an offline sale decrements the master's stock
    currency: str = "USD"
    rounding: Decimal = Decimal("0.01")
    warehouses: tuple[str, ...] = ()  # meta keys `_stock_<warehouse>` in WooCommerce
    copies: dict[str, CopyRules] = field(
        default_factory=lambda: {name: CopyRules() for name in copy_names()}
    )
    checkout_out_of_stock: str = "refuse"
    path: str | None = None

    def copy_on(self, name: str) -> bool:
        rules = self.copies.get(name)
        return rules is not None and rules.enabled

    def round(self, price: str | None) -> str | None:
        """A price rounded to the step (half up), as decimal text with two places."""
        if price is None:
            return None
        step = self.rounding
        value = (Decimal(price) / step).quantize(Decimal(1), rounding="ROUND_HALF_UP") * step
        return str(value.quantize(Decimal("0.01")))


# -- loading ------------------------------------------------------------------------------------


def copy_names() -> tuple[str, ...]:
    """The systems that can hold a copy of the catalogue (`System.catalogue_copy`)."""
    from connector.systems.registry import Registry

    return tuple(Registry.discover().catalogue_copies())


def rules_path(mappings_dir: str | None = None) -> str:
    return os.path.join(mappings_folder(mappings_dir), RULES_FILE)


def validate_rules_file(path: str) -> list[MappingError]:
    """Every problem of the rules file, for `connector mappings validate` (empty when valid)."""
    return check_rules_file(path)[1]


def check_rules_file(path: str) -> tuple[CatalogueRules | None, list[MappingError]]:
    relative = os.path.relpath(path)
    display = path if relative.startswith("..") else relative
    document, errors = loader.read(path, display)
    if document is None or errors:
        return None, errors
    return check_document(document, path)


def check_text(text: str, file: str) -> tuple[CatalogueRules | None, list[MappingError]]:
    document, errors = loader.parse(text, file)
    if document is None or errors:
        return None, errors
    return check_document(document, file)


def check_document(
    document: loader.Document, path: str | None = None
) -> tuple[CatalogueRules | None, list[MappingError]]:
    checker = _Checker(document)
    rules = checker.rules(path)
    return (None if checker.errors else rules), checker.errors


def load_rules(path: str) -> CatalogueRules:
    rules, errors = check_rules_file(path)
    if errors or rules is None:
        raise MappingErrors(errors)
    return rules


def rules_for(settings: Settings) -> CatalogueRules:
    """The rules of the running connector, re-read when the file changes; while the admin's edit
    is invalid, tasks wait for the fix (`MappingsUnusable`) instead of dying."""
    path = rules_path(getattr(settings, "mappings_dir", None))
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return CatalogueRules()
    try:
        return _cached_rules(path, changed)
    except MappingErrors as error:
        raise MappingsUnusable(
            f"the catalogue rules are invalid ({error}); waiting for the fix", 60.0, error.errors
        ) from None


@functools.lru_cache(maxsize=16)
def _cached_rules(path: str, changed: int) -> CatalogueRules:
    return load_rules(path)


# -- the checker --------------------------------------------------------------------------------


class _Checker(RulesChecker):
    def __init__(self, document: loader.Document) -> None:
        super().__init__(document, "catalogue")

    def choice(
        self, value: Any, location: tuple[Any, ...], allowed: tuple[str, ...], default: str
    ) -> str:
        if value is None:
            return default
        if value not in allowed:
            self.fail(
                location,
                f"must be one of {', '.join(allowed)}, not {value!r}"
                f"{did_you_mean(str(value), allowed)}",
            )
            return default
        return str(value)

    def flag(self, value: Any, location: tuple[Any, ...], default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(location, f"must be true or false, not {value!r}")
            return default
        return value

    def rules(self, path: str | None) -> CatalogueRules:
        data = self.document.data
        base = CatalogueRules(path=path)
        if not isinstance(data, dict) or "catalogue" not in data:
            self.fail((), "a catalogue rules file starts with `catalogue:`")
            return base
        self.mapping(data, (), ("catalogue",))
        at: tuple[Any, ...] = ("catalogue",)
        top = self.mapping(data["catalogue"], at, TOP_KEYS)
        master = self.choice(top.get("master"), (*at, "master"), MASTERS, base.master)
        file = top.get("file")
        if file is not None and not isinstance(file, str):
            self.fail((*at, "file"), f"must be a file path, not {file!r}")
            file = None
        if master != "woocommerce" and not file:
            self.fail((*at, "master"), f"master {master} needs `file:` (the export to read)")
        columns = dict(CSV_COLUMNS)
        given = self.mapping(top.get("columns"), (*at, "columns"), tuple(CSV_COLUMNS))
        for key, header in given.items():
            if key in CSV_COLUMNS:
                if not isinstance(header, str) or not header.strip():
                    self.fail((*at, "columns", key), "must be the CSV column's header")
                else:
                    columns[key] = header.strip()
        currency = top.get("currency", base.currency)
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            self.fail((*at, "currency"), f"must be a 3-letter ISO currency code, not {currency!r}")
            currency = base.currency
        rounding = base.rounding
        if top.get("rounding") is not None:
            try:
                rounding = Decimal(str(top["rounding"]))
                if not rounding.is_finite() or rounding <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                self.fail(
                    (*at, "rounding"),
                    f"must be a positive step such as 0.01 or 1, not {top['rounding']!r}",
                )
                rounding = base.rounding
        warehouses: list[str] = []
        raw = top.get("warehouses")
        if raw is not None and not isinstance(raw, list):
            self.fail((*at, "warehouses"), "must be a list of warehouse codes")
        for index, code in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(code, str) or not re.match(r"^[A-Za-z0-9_-]{1,50}$", code):
                self.fail(
                    (*at, "warehouses", index),
                    f"must be a code of letters, digits, _ or -, not {code!r}",
                )
            else:
                warehouses.append(code)
        copies = dict(base.copies)
        names = copy_names()
        raw_copies = self.mapping(top.get("copies"), (*at, "copies"), names)
        for name, value in raw_copies.items():
            if name not in names:
                continue
            where = (*at, "copies", name)
            if isinstance(value, bool):
                copies[name] = CopyRules(enabled=value)
                continue
            options = self.mapping(value, where, COPY_KEYS)
            prop = options.get("stock_property")
            if prop is not None and (
                name != "bitrix24" or not isinstance(prop, str) or not _PROPERTY.match(prop)
            ):
                self.fail(
                    (*where, "stock_property"),
                    "only for bitrix24: a product property such as PROPERTY_STOCK",
                )
                prop = None
            copies[name] = CopyRules(
                enabled=self.flag(options.get("enabled"), (*where, "enabled"), True),
                stock_property=prop,
            )
        return CatalogueRules(
            master=master,
            file=file,
            columns=columns,
            master_writes=self.flag(top.get("master_writes"), (*at, "master_writes"), False),
            currency=str(currency),
            rounding=rounding,
            warehouses=tuple(warehouses),
            copies=copies,
            checkout_out_of_stock=self.choice(
                top.get("checkout_out_of_stock"),
                (*at, "checkout_out_of_stock"),
                CHECKOUT,
                base.checkout_out_of_stock,
            ),
            path=path,
        )
