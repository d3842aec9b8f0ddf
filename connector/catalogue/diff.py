"""`connector catalogue diff`: every product whose price or stock differs between the master
(the canonical catalogue) and a copy, read in pages so memory stays flat.

- Bitrix24: the master's variants in pages of `PAGE` products; their SKUs are looked up in the
  copy with `crm.product.list` filtered on `@XML_ID` (50 SKUs a command, the commands of a page
  in one `batch` call); compared: price in force, active (available), the stock property.
- Mailchimp: the copy's products page by page (`count` 1,000), each compared with the master's
  (variant price, `inventory_quantity`); then the master's products the copy never showed are
  missing (their ids, only, are kept while reading).
- A price-list feed (the marketplace's) is rendered from the canonical catalogue on each fetch,
  so it holds no copy that could differ (`rendered`).

Which systems hold a copy, and the function that lists its differences, the registry says
(`System.catalogue_copy`).

`--fix` queues forced pushes of the differing products (the normal push, which then also finds
items an add made but whose answer was lost, and re-adds items removed in the copy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.catalogue.copies import bitrix24_bodies, enqueue_pushes, mailchimp_bodies
from connector.catalogue.rules import rules_for
from connector.catalogue.store import products
from connector.systems.bitrix24.batch import Command
from connector.systems.bitrix24.client import page_rows
from connector.systems.registry import resolve

PAGE = 200


@dataclass(frozen=True)
class Difference:
    copy: str
    product_id: str
    variant_id: str | None
    sku: str | None
    field: str  # price | stock | available | missing
    master: Any
    held: Any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.product_id}" + (f"/{self.variant_id}" if self.variant_id else "")
        sku = f" (SKU {self.sku})" if self.sku else ""
        return (
            f"{self.copy}: {where}{sku}: {self.field}: master {self.master!r}, copy {self.held!r}"
        )


def _same_money(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a or 0)) == Decimal(str(b or 0))
    except InvalidOperation:
        return str(a) == str(b)


def _now(services: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(services.queue.clock(), dt.UTC)


def bitrix24_differences(services: Any) -> Iterator[Difference]:
    rules = rules_for(services.settings)
    client = services.bitrix24
    stock_property = rules.copies["bitrix24"].stock_property
    now = _now(services)
    page: list[Any] = []

    def check(chunk: list[Any]) -> Iterator[Difference]:
        wanted: dict[str, tuple[Any, str, dict[str, Any]]] = {}
        for product in chunk:
            for vid, body in bitrix24_bodies(product, rules, now).items():
                if body["XML_ID"]:
                    wanted[body["XML_ID"]] = (product, vid, body)
        skus = sorted(wanted)
        commands = [
            Command(
                "crm.product.list",
                {
                    "filter": {"@XML_ID": skus[i : i + 50]},
                    "start": -1,
                    "select": [
                        "ID",
                        "XML_ID",
                        "PRICE",
                        "ACTIVE",
                        *([stock_property] if stock_property else []),
                    ],
                },
            )
            for i in range(0, len(skus), 50)
        ]
        held: dict[str, dict[str, Any]] = {}
        for start in range(0, len(commands), 50):
            for result in client.batch(commands[start : start + 50]):
                for row in page_rows(result.unwrap()):
                    held.setdefault(str(row.get("XML_ID")), row)
        for sku, (product, vid, body) in wanted.items():
            found = held.get(sku)
            pid = product.product_id
            if found is None:
                yield Difference("bitrix24", pid, vid, sku, "missing", body["PRICE"], None)
                continue
            row = found
            if not _same_money(body["PRICE"], row.get("PRICE")):
                yield Difference(
                    "bitrix24", pid, vid, sku, "price", body["PRICE"], row.get("PRICE")
                )
            if body["ACTIVE"] != row.get("ACTIVE"):
                yield Difference(
                    "bitrix24", pid, vid, sku, "available", body["ACTIVE"], row.get("ACTIVE")
                )
            if stock_property and str(body.get(stock_property) or "") != str(
                row.get(stock_property) or ""
            ):
                yield Difference(
                    "bitrix24",
                    pid,
                    vid,
                    sku,
                    "stock",
                    body.get(stock_property),
                    row.get(stock_property),
                )

    for product in products(services.engine, page=PAGE):
        page.append(product)
        if len(page) >= PAGE:
            yield from check(page)
            page = []
    if page:
        yield from check(page)


def mailchimp_differences(services: Any) -> Iterator[Difference]:
    from connector.systems.mailchimp import products as mc

    rules = rules_for(services.settings)
    store = services.settings.mailchimp_store_id
    now = _now(services)
    seen: set[str] = set()
    batch: list[dict[str, Any]] = []

    def check(items: list[dict[str, Any]]) -> Iterator[Difference]:
        ids = [str(item["id"]) for item in items]
        master = {p.product_id: p for p in products(services.engine, ids=ids)}
        for item in items:
            pid = str(item["id"])
            seen.add(pid)
            product = master.get(pid)
            if product is None:
                continue  # a product only an order's line made: not the catalogue's
            _, variants = mailchimp_bodies(product, rules, now)
            held = {str(v.get("id")): v for v in item.get("variants") or []}
            for vid, body in variants.items():
                row = held.get(vid)
                if row is None:
                    yield Difference(
                        "mailchimp", pid, vid, body.get("sku"), "missing", body["price"], None
                    )
                    continue
                if not _same_money(body["price"], row.get("price")):
                    yield Difference(
                        "mailchimp",
                        pid,
                        vid,
                        body.get("sku"),
                        "price",
                        body["price"],
                        row.get("price"),
                    )
                if int(body["inventory_quantity"]) != int(row.get("inventory_quantity") or 0):
                    yield Difference(
                        "mailchimp", pid, vid, body.get("sku"), "stock",
                        body["inventory_quantity"], row.get("inventory_quantity"),
                    )  # fmt: skip

    for item in mc.products(services.mailchimp, store, count=1000):
        batch.append(item)
        if len(batch) >= 1000:
            yield from check(batch)
            batch = []
    if batch:
        yield from check(batch)
    for product in products(services.engine, page=PAGE):
        if product.product_id not in seen:
            yield Difference(
                "mailchimp", product.product_id, None, None, "missing", product.name, None
            )


def differences(services: Any, copy: str | None = None) -> Iterator[Difference]:
    """Every difference of the copies that are on (or of `copy`)."""
    rules = rules_for(services.settings)
    for system in services.systems:
        if system.catalogue_copy is None or copy not in (None, system.name):
            continue
        if copy is None and not rules.copy_on(system.name):
            continue
        if services.enabled(system.name):
            yield from resolve(system.catalogue_copy)(services)


def rendered(services: Any) -> Iterator[Difference]:
    """The differences of a copy rendered from the catalogue on every read (a price-list feed
    that the marketplace fetches): none, since it holds nothing of its own."""
    return iter(())


def fix(services: Any, found: list[Difference]) -> int:
    """Queues forced pushes of the differing products, per copy; returns the tasks queued."""
    from connector.catalogue.store import product as read_product

    count = 0
    for copy in ("bitrix24", "mailchimp"):
        ids = sorted({d.product_id for d in found if d.copy == copy})
        changed = []
        for pid in ids:
            product = read_product(services.engine, pid)
            if product is not None:
                changed.append((pid, f"fix:{product.fingerprint()}:{services.queue.clock()}"))
        count += enqueue_pushes(services, changed, force=True, copies=[copy])
    return count
