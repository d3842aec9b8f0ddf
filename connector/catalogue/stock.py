"""Stock at the checkout and at the till, read from the same canonical catalogue.

- Checkout (the loyalty checkout API, `POST /api/loyalty/holds` with `lines: [{sku, quantity}]`):
  `check_lines` finds each line's variant; a line whose SKU is sold out, unavailable (deleted,
  draft) or has less stock than asked is refused (409 `out_of_stock`, the SKUs named) when
  catalogue.yaml says `checkout_out_of_stock: refuse`, or only reported (`stock_warnings` in the
  answer) with `flag`. A SKU the catalogue does not know is reported, never refused.
- Till (the POS import, connector/sync/pos.py): the sale already happened, so nothing is refused;
  lines whose SKU is unknown or sold out are flagged in the import's summary, and each sale line
  decrements the master's stock once (`catalogue.offline_sale`) when the master is the shop and
  catalogue.yaml says `master_writes: true`: WooCommerce `PUT /products/{id}` `stock_quantity`.

Exactly once per sale line: a row of `catalogue_stock_writes` keyed by the line (source, receipt,
line number) is written before the call with the stock read and the stock to write. A retry finds
it: the write is done when the shop shows the target, still to do when it shows the stock read;
any other number means someone else moved the stock since, and the write is taken as done (a
second decrement would be the worse error). A re-imported file queues no second task (dedupe by
receipt) and a retried task writes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from connector import keys
from connector.catalogue.rules import rules_for
from connector.catalogue.store import variant_by_sku
from connector.errors import PermanentError
from connector.store import reading
from connector.store.tables import catalogue_stock_writes as W
from connector.tasks import TaskContext

log = logging.getLogger("connector.catalogue")


@dataclass(frozen=True)
class LineStock:
    sku: str
    quantity: float
    problem: str | None  # None: available; else unknown | unavailable | out_of_stock | short
    stock: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "problem": self.problem,
                "stock": self.stock}  # fmt: skip


def check_lines(engine: Any, lines: Iterable[Mapping[str, Any]]) -> list[LineStock]:
    """The stock of each line's SKU, and what is wrong with it (None when it can be sold)."""
    out = []
    with reading(engine) as connection:
        for line in lines:
            sku = str(line.get("sku") or "").strip()
            quantity = float(line.get("quantity") or 1)
            found = variant_by_sku(connection, sku) if sku else None
            if found is None:
                out.append(LineStock(sku, quantity, "unknown"))
                continue
            product, variant = found
            if product.status != "active":
                problem: str | None = "unavailable"
            elif not variant.available(product.status):
                problem = "out_of_stock"
            elif variant.stock is not None and variant.stock < quantity:
                problem = "short"
            else:
                problem = None
            out.append(LineStock(sku, quantity, problem, variant.stock))
    return out


def checkout_verdict(services: Any, lines: Sequence[Mapping[str, Any]]) -> tuple[bool, list[dict]]:
    """(refuse?, warnings) for the checkout API's lines, as catalogue.yaml says."""
    rules = rules_for(services.settings)
    if rules.checkout_out_of_stock == "ignore" or not lines:
        return False, []
    checked = [c for c in check_lines(services.engine, lines) if c.problem is not None]
    refuse = rules.checkout_out_of_stock == "refuse" and any(
        c.problem != "unknown" for c in checked
    )
    return refuse, [c.as_dict() for c in checked]


# -- the till ----------------------------------------------------------------------------------


def offline_sale_items(
    source: str, receipts: Iterable[tuple[str, list[dict[str, Any]]]]
) -> list[tuple[dict[str, Any], str, str]]:
    """One `catalogue.offline_sale` task per receipt: (payload, dedupe key, ordering key)."""
    items = []
    for number, rows in receipts:
        lines = [
            {"sku": str(row.get("sku") or "").strip(), "quantity": row.get("qty") or 1}
            for row in rows
        ]
        payload = {"source": source, "receipt": number, "lines": lines}
        items.append((payload, keys.imported(source, "stock", number), "catalogue:stock"))
    return items


def flag_lines(engine: Any, receipts: Iterable[tuple[str, list[dict[str, Any]]]]) -> list[str]:
    """What the import reports about its lines' stock: unknown SKUs and sold-out items."""
    flags = []
    for number, rows in receipts:
        lines = [{"sku": row.get("sku"), "quantity": row.get("qty") or 1} for row in rows]
        for checked in check_lines(engine, lines):
            if checked.problem is not None and checked.sku:
                flags.append(f"receipt {number}: SKU {checked.sku}: {checked.problem}")
    return flags


def _whole(value: Any) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        raise PermanentError(f"quantity {value!r} is not a number") from None


def offline_sale(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`catalogue.offline_sale` {source, receipt, lines}: the shop's stock, once a line."""
    services = ctx.services
    rules = rules_for(services.settings)
    if not rules.master_writes or rules.master != "woocommerce":
        return
    engine = services.engine
    touched: set[str] = set()
    for index, line in enumerate(payload.get("lines") or []):
        line_key = f"{payload['source']}:{payload['receipt']}:{index}"
        with reading(engine) as connection:
            row = connection.execute(select(W).where(W.c.line_key == line_key)).first()
        if row is not None and row.state != "reserved":
            continue
        sku, quantity = str(line.get("sku") or ""), _whole(line.get("quantity") or 1)
        found = variant_by_sku(engine, sku) if sku else None
        if found is None:
            _record(services, line_key, sku, quantity, "skipped", "unknown SKU", row is None)
            continue
        product, variant = found
        if product.status == "deleted":
            gone = "deleted in the shop"
            _record(services, line_key, sku, quantity, "skipped", gone, row is None)
            continue
        path = f"/products/{product.product_id}"
        if variant.variant_id != product.product_id:
            path += f"/variations/{variant.variant_id}"
        current = services.woocommerce.request("GET", path)
        if not current.get("manage_stock") or current.get("stock_quantity") is None:
            _record(services, line_key, sku, quantity, "skipped", "stock not tracked", row is None)
            continue
        now_held = int(current["stock_quantity"])
        if row is None:
            before, target = now_held, now_held - quantity
            _record(services, line_key, sku, quantity, "reserved", f"{before}>{target}", True)
        else:
            before, target = (int(x) for x in str(row.detail).split(">"))
            if now_held != before:  # done before the retry, or moved by someone else since
                _record(
                    services,
                    line_key,
                    sku,
                    quantity,
                    "written",
                    f"{before}>{target} (seen {now_held})",
                    False,
                )
                continue
        services.woocommerce.request("PUT", path, json={"stock_quantity": target})
        _record(services, line_key, sku, quantity, "written", f"{before}>{target}", False)
        touched.add(product.product_id)
    for product_id in sorted(touched):  # the catalogue learns the new stock without waiting
        services.queue.enqueue(
            "woocommerce.product",
            {"id": int(product_id), "via": "offline_sale"},
            dedupe_key=keys.catalogue_stock(payload["source"], payload["receipt"], product_id),
            ordering_key=keys.record("product", "woocommerce", product_id),
        )


def _record(
    services: Any, line_key: str, sku: str, quantity: int, state: str, detail: str, new: bool
) -> None:
    with services.engine.begin() as connection:
        values = {"state": state, "detail": detail[:200], "at": services.queue.clock()}
        if new:
            connection.execute(
                insert(W).values(line_key=line_key, sku=sku[:100], quantity=quantity, **values)
            )
        else:
            connection.execute(update(W).where(W.c.line_key == line_key).values(**values))
