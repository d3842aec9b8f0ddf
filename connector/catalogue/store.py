"""The canonical catalogue in the store: write a product from its master, read it back.

Readers (the copies, the price-list feed, the checkout API, the POS import) use `products`,
`product`, `variant_by_sku` and `stock_of`; only the master's intake writes (`save_product`,
`mark_deleted`). Reads go in pages by product id, so memory stays flat in the catalogue's size.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from connector.catalogue.model import Product, Variant
from connector.store import reading
from connector.store.tables import catalogue_products as P
from connector.store.tables import catalogue_variants as V

PAGE = 500


@dataclass(frozen=True)
class Saved:
    product_id: str
    changed: bool  # the fingerprint differs from what was stored (or it is new)


def _variant(row: Any) -> Variant:
    return Variant(
        variant_id=row.variant_id,
        sku=row.sku,
        name=row.name,
        price=row.price,
        currency=row.currency,
        sale_price=row.sale_price,
        sale_from=row.sale_from,
        sale_to=row.sale_to,
        stock=row.stock,
        stock_by_warehouse=dict(row.stock_by_warehouse or {}),
        in_stock=bool(row.in_stock),
        image_url=row.image_url,
        url=row.url,
    )


def _product(row: Any, variants: Iterable[Variant]) -> Product:
    return Product(
        product_id=row.product_id,
        name=row.name,
        variants=tuple(variants),
        master=row.master,
        status=row.status,
        description=row.description,
        url=row.url,
        image_url=row.image_url,
        modified=row.modified,
    )


def _assemble(connection: Connection, rows: list[Any]) -> list[Product]:
    if not rows:
        return []
    ids = [row.product_id for row in rows]
    by_product: dict[str, list[Variant]] = {pid: [] for pid in ids}
    query = (
        select(V)
        .where(V.c.product_id.in_(ids))
        .order_by(V.c.product_id, V.c.position, V.c.variant_id)
    )
    for row in connection.execute(query):
        by_product[row.product_id].append(_variant(row))
    return [_product(row, by_product[row.product_id]) for row in rows]


def products(
    engine: Engine,
    *,
    ids: Iterable[str] | None = None,
    include_deleted: bool = True,
    page: int = PAGE,
) -> Iterator[Product]:
    """Every product with its variants, in pages ordered by id (memory flat)."""
    wanted = None if ids is None else sorted(set(ids))
    after = ""
    while True:
        query = select(P).where(P.c.product_id > after).order_by(P.c.product_id).limit(page)
        if wanted is not None:
            chunk = [pid for pid in wanted if pid > after][:page]
            if not chunk:
                return
            query = select(P).where(P.c.product_id.in_(chunk)).order_by(P.c.product_id)
        if not include_deleted:
            query = query.where(P.c.status != "deleted")
        with reading(engine) as connection:
            rows = list(connection.execute(query))
            batch = _assemble(connection, rows)
        if wanted is not None:
            after = chunk[-1]
        elif rows:
            after = rows[-1].product_id
        yield from batch
        if wanted is None and len(rows) < page:
            return


def product(engine: Engine, product_id: str) -> Product | None:
    with reading(engine) as connection:
        rows = list(connection.execute(select(P).where(P.c.product_id == product_id)))
        found = _assemble(connection, rows)
    return found[0] if found else None


def variant_by_sku(engine: Engine | Connection, sku: str) -> tuple[Product, Variant] | None:
    """The product and variant of a SKU (the first one if a master repeats a SKU)."""

    def find(connection: Connection) -> tuple[Product, Variant] | None:
        row = connection.execute(
            select(V.c.product_id, V.c.variant_id).where(V.c.sku == sku).limit(1)
        ).first()
        if row is None:
            return None
        rows = list(connection.execute(select(P).where(P.c.product_id == row.product_id)))
        found = _assemble(connection, rows)
        if not found:
            return None
        variant = next(v for v in found[0].variants if v.variant_id == row.variant_id)
        return found[0], variant

    if isinstance(engine, Connection):
        return find(engine)
    with reading(engine) as connection:
        return find(connection)


def count(engine: Engine) -> int:
    from sqlalchemy import func

    with reading(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(P)).scalar_one())


def save_product(connection: Connection, product: Product, *, now: float | None = None) -> Saved:
    """Insert or replace a product and its variants; says whether anything a copy sees changed."""
    stamp = time.time() if now is None else now
    new_print = product.fingerprint()
    old = connection.execute(
        select(P.c.fingerprint).where(P.c.product_id == product.product_id)
    ).scalar()
    values = {
        "master": product.master,
        "name": product.name[:300],
        "description": product.description,
        "url": product.url,
        "image_url": product.image_url,
        "status": product.status,
        "modified": product.modified,
        "fingerprint": new_print,
        "updated_at": stamp,
    }
    if old is None:
        connection.execute(insert(P).values(product_id=product.product_id, **values))
    elif old == new_print:
        if product.modified:
            connection.execute(
                update(P)
                .where(P.c.product_id == product.product_id)
                .values(modified=product.modified)
            )
        return Saved(product.product_id, changed=False)
    else:
        connection.execute(update(P).where(P.c.product_id == product.product_id).values(**values))
        connection.execute(delete(V).where(V.c.product_id == product.product_id))
    if product.variants:
        connection.execute(
            insert(V),
            [
                {
                    "product_id": product.product_id,
                    "variant_id": v.variant_id,
                    "sku": v.sku,
                    "name": v.name[:300],
                    "price": v.price,
                    "sale_price": v.sale_price,
                    "sale_from": v.sale_from,
                    "sale_to": v.sale_to,
                    "currency": v.currency,
                    "stock": v.stock,
                    "stock_by_warehouse": dict(v.stock_by_warehouse) or None,
                    "in_stock": int(v.in_stock),
                    "image_url": v.image_url,
                    "url": v.url,
                    "position": position,
                    "updated_at": stamp,
                }
                for position, v in enumerate(product.variants)
            ],
        )
    return Saved(product.product_id, changed=True)


def mark_deleted(connection: Connection, product_id: str, *, now: float | None = None) -> bool:
    """A product gone from the master stays, marked deleted (so unavailable everywhere)."""
    stamp = time.time() if now is None else now
    rows = list(connection.execute(select(P).where(P.c.product_id == product_id)))
    found = _assemble(connection, rows)
    if not found or found[0].status == "deleted":
        return False
    from dataclasses import replace

    gone = replace(found[0], status="deleted")
    connection.execute(
        update(P)
        .where(P.c.product_id == product_id)
        .values(status="deleted", fingerprint=gone.fingerprint(), updated_at=stamp)
    )
    return True


def with_catalogue_ids(engine: Engine, order: dict[str, Any], system: str = "bitrix24") -> dict:
    """The order with `lines[].custom.<system>_product_id`: the catalogue item of each line's
    SKU in that copy (deal product rows then carry `PRODUCT_ID`, so the CRM reports by product).
    Lines whose SKU the catalogue or the copy does not know stay free text."""
    from connector.identity import link_of

    lines = order.get("lines") or []
    if not any(isinstance(line, dict) and line.get("sku") for line in lines):
        return order
    out = []
    with reading(engine) as connection:
        for line in lines:
            sku = str(line.get("sku") or "").strip() if isinstance(line, dict) else ""
            found = variant_by_sku(connection, sku) if sku else None
            if found is None:
                out.append(line)
                continue
            item, variant = found
            link = link_of(connection, "catalogue_product", item.product_id, system)
            held = (
                ((link.data or {}).get("variants") or {}).get(variant.variant_id) if link else None
            )
            if not held or not held.get("id"):
                out.append(line)
                continue
            custom = {**(line.get("custom") or {}), f"{system}_product_id": str(held["id"])}
            out.append({**line, "custom": custom})
    return {**order, "lines": out}
