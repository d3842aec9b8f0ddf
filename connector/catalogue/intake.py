"""The master's changes into the canonical catalogue, and from there to every copy.

The shop as master: a product webhook (WooCommerce `product.created/updated/deleted`) or the
`products` polling stream (connector/sync/woocommerce.py, `modified_after` the cursor) queues
`woocommerce.product`; its handler reads the product fresh (with its variations), saves it, and
in the same transaction queues the pushes of a changed product to the copies. A CSV / POS export
as master: `catalogue.read_file` (a job, or `connector catalogue import`) reads the file in one
pass; products missing from it are marked deleted. Deleted products stay, unavailable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from connector.catalogue.model import Product
from connector.catalogue.rules import rules_for
from connector.catalogue.sources import CatalogueFileError, FileProblem, from_csv, from_woocommerce
from connector.catalogue.store import mark_deleted, save_product
from connector.errors import PermanentError
from connector.store import reading
from connector.store.tables import catalogue_products
from connector.tasks import TaskContext

log = logging.getLogger("connector.catalogue")
SAVE_CHUNK = 500


def take_products(services: Any, items: Iterable[Product], *, live: bool = True) -> int:
    """Saves products from the master; queues pushes of the changed ones in the same transaction
    (one task per product when `live`, chunks for bulk reads). Returns how many changed."""
    from connector.catalogue.copies import CHUNK, enqueue_pushes

    now = services.queue.clock()
    changed_total = 0
    batch: list[Product] = []

    def flush() -> None:
        nonlocal changed_total
        with services.engine.begin() as connection:
            changed = []
            for product in batch:
                if save_product(connection, product, now=now).changed:
                    changed.append((product.product_id, product.fingerprint()))
            enqueue_pushes(services, changed, connection=connection, chunk=1 if live else CHUNK)
        changed_total += len(changed)
        batch.clear()

    for product in items:
        batch.append(product)
        if len(batch) >= SAVE_CHUNK:
            flush()
    if batch:
        flush()
    return changed_total


def take_deleted(services: Any, product_ids: Iterable[str]) -> int:
    from connector.catalogue.copies import enqueue_pushes
    from connector.catalogue.store import product as read_product

    gone = []
    with services.engine.begin() as connection:
        for product_id in product_ids:
            if mark_deleted(connection, product_id, now=services.queue.clock()):
                gone.append(product_id)
    changed = []
    for product_id in gone:
        found = read_product(services.engine, product_id)
        if found is not None:
            changed.append((product_id, found.fingerprint()))
    enqueue_pushes(services, changed, chunk=1)
    return len(gone)


def woocommerce_product(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`woocommerce.product` {id, event?}: read the product fresh and keep the catalogue."""
    services = ctx.services
    rules = rules_for(services.settings)
    if rules.master != "woocommerce":
        log.info(
            "product %s: the catalogue's master is %s, not the shop",
            payload.get("id"),
            rules.master,
        )
        return
    product_id = int(payload["id"])
    client = services.woocommerce
    try:
        record = client.get_product(product_id)
    except PermanentError as error:
        if error.status == 404:
            take_deleted(services, [str(product_id)])
            return
        raise
    if record.get("parent_id"):  # a variation's own event: its product is what changed
        record = client.get_product(int(record["parent_id"]))
    variations: list[dict[str, Any]] = []
    if record.get("variations"):
        variations = list(
            client.request("GET", f"/products/{record['id']}/variations", params={"per_page": 100})
            or []
        )
    product = from_woocommerce(record, variations, rules)
    if payload.get("event") == "deleted" and product.status != "deleted":
        from dataclasses import replace

        product = replace(product, status="deleted")
    take_products(services, [product], live=True)


def read_file(services: Any, path: str | None = None) -> tuple[int, int, list[FileProblem]]:
    """Reads the CSV / POS export that is the master: (changed, deleted, problems)."""
    rules = rules_for(services.settings)
    if rules.master == "woocommerce" and path is None:
        raise CatalogueFileError("catalogue.yaml: the master is the shop, not a file")
    file = path or rules.file
    if not file:
        raise CatalogueFileError("catalogue.yaml: `file:` names no export")
    if not os.path.isabs(file) and rules.path:
        near = os.path.join(os.path.dirname(rules.path), "..", file)
        file = file if os.path.exists(file) else os.path.normpath(near)
    problems: list[FileProblem] = []
    seen: set[str] = set()

    def read() -> Iterable[Product]:
        for product in from_csv(file, rules, problems):
            seen.add(product.product_id)
            yield product

    changed = take_products(services, read(), live=False)
    bad = {p.line for p in problems}
    gone: list[str] = []
    if not bad:  # a file with bad rows says nothing sure about what is missing
        with reading(services.engine) as connection:
            rows = connection.execute(
                select(catalogue_products.c.product_id).where(
                    catalogue_products.c.master == rules.master,
                    catalogue_products.c.status != "deleted",
                )
            )
            gone = [row.product_id for row in rows if row.product_id not in seen]
    deleted = take_deleted(services, gone) if gone else 0
    return changed, deleted, problems


def read_file_task(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`catalogue.read_file`: the job's periodic read of the master's export."""
    rules = rules_for(ctx.services.settings)
    if rules.master == "woocommerce" or not rules.file:
        return
    changed, deleted, problems = read_file(ctx.services)
    for problem in problems[:20]:
        log.warning("catalogue file: %s", problem)
    log.info("catalogue file: %d changed, %d deleted, %d bad rows", changed, deleted, len(problems))
