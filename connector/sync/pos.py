"""`connector import orders FILE --source pos`: store sales from a till's CSV export.

A till exports one row per receipt line (mappings/pos/order.yaml names the columns); the rows of
one receipt become one `shop.order` task whose `data` is the generic shop order (the `shop`
mapping, out), so offline sales go through the same flow as web orders. The dedupe key is the
receipt number: importing a file twice, or two overlapping exports, queues each receipt once.

Every row is checked with the source's mapping before anything is queued; a bad row is reported
as `FILE:LINE: column NAME: problem` and its whole receipt is left out (a receipt with a line
missing would be imported wrong, and its number would then block the corrected import).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector import keys
from connector.catalogue.stock import flag_lines, offline_sale_items
from connector.errors import ConnectorError, MappingError
from connector.queue import BULK, Queue
from connector.sync.streams import TaskItem

if TYPE_CHECKING:
    from connector.mapping import MappingSet

RECEIPT = "receipt_number"
CHUNK = 500
_SEPARATORS = ",;\t"


class ImportFileError(ConnectorError):
    """The file cannot be imported at all (unreadable, not CSV, no receipt column)."""


class UnknownSource(ConnectorError):
    """`--source` names no mapping."""


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    column: str | None
    message: str
    receipt: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:"
        column = f" column {self.column}:" if self.column else ""
        skipped = f" (receipt {self.receipt} not imported)" if self.receipt else ""
        return f"{where}{column} {self.message}{skipped}"


@dataclass
class ImportSummary:
    file: str
    source: str
    rows: int = 0
    receipts: int = 0
    enqueued: int = 0
    already_imported: int = 0
    rejected_receipts: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    # lines whose SKU the catalogue does not know or has sold out (connector/catalogue/stock.py)
    stock_flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "source": self.source,
            "rows": self.rows,
            "receipts": self.receipts,
            "enqueued": self.enqueued,
            "already_imported": self.already_imported,
            "rejected_receipts": self.rejected_receipts,
            "bad_rows": [
                {"line": b.line, "column": b.column, "message": b.message, "receipt": b.receipt}
                for b in self.bad_rows
            ],
            "stock_flags": list(self.stock_flags),
        }


def _column(name: str) -> str:
    """`Receipt Number` -> `receipt_number`, as connector.mapping.csv_rows names columns."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def read_text(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ImportFileError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportFileError(f"{path}:{line}: not UTF-8 text (save the export as UTF-8)") from None


def read_rows(path: str, text: str) -> tuple[dict[str, str], Iterator[tuple[int, dict[str, Any]]]]:
    """(normalised column -> header as written, iterator of (line number, row))."""
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=_SEPARATORS)
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"{path}: empty file") from None
    except csv.Error as error:
        raise ImportFileError(f"{path}:1: not CSV: {error}") from None
    columns = [_column(name) for name in header]
    written = {c: h.strip() for c, h in zip(columns, header, strict=True) if c}
    if RECEIPT not in written:
        raise ImportFileError(
            f"{path}:1: no receipt number column (expected a header like 'Receipt Number'); "
            f"found: {', '.join(h for h in written.values())}"
        )

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        line = reader.line_num
        try:
            for values in reader:
                start, line = line + 1, reader.line_num
                if not any(v.strip() for v in values):
                    continue
                row = {c: v.strip() for c, v in zip(columns, values, strict=False) if c}
                yield start, row
        except csv.Error as error:
            raise ImportFileError(f"{path}:{reader.line_num}: not CSV: {error}") from None

    return written, rows()


def column_of(mapping: Any, error: MappingError, written: dict[str, str]) -> str | None:
    """The CSV column a mapping error is about, as written in the file's header."""
    for rule in mapping.rules:
        if rule.label == error.field and rule.system:
            name = str(rule.system).rsplit(".", 1)[-1]
            return written.get(name, name)
    return None


def receipt_task(source: str, receipt: str, data: dict[str, Any]) -> TaskItem:
    created = data.get("created_at")
    return TaskItem(
        kind="shop.order",
        payload={
            "type": "order.created",
            "action": "created",
            "data": data,
            "source": source,
            "occurred_at": created,
        },
        dedupe_key=keys.imported(source, "order", receipt),
        ordering_key=keys.record("order", "shop", data["id"]),
    )


def import_orders(
    queue: Queue, mappings: MappingSet, path: str, source: str = "pos", dry_run: bool = False
) -> ImportSummary:
    """Reads the export, checks every row, enqueues one `shop.order` task per good receipt."""
    try:
        mapping = mappings.get(source, "order")
    except MappingError:
        raise UnknownSource(
            f"--source: no mapping for {source!r} (expected mappings/{source}/order.yaml)"
        ) from None
    if not any(str(rule.system or "").startswith("rows") for rule in mapping.rules):
        raise UnknownSource(
            f"--source: {mapping.file} does not read CSV rows (fields like rows[0].date)"
        )
    shop = mappings.get("shop", "order")
    text = read_text(path)
    written, rows = read_rows(path, text)
    summary = ImportSummary(file=path, source=source)
    receipts: dict[str, list[dict[str, Any]]] = {}
    rejected: set[str] = set()
    for line, row in rows:
        summary.rows += 1
        receipt = row.get(RECEIPT) or ""
        problem = _check_row(path, line, row, mapping, written)
        if problem is not None:
            summary.bad_rows.append(problem)
            if receipt:
                rejected.add(receipt)
            continue
        receipts.setdefault(receipt, []).append(row)
    good = [(number, lines) for number, lines in receipts.items() if number not in rejected]
    summary.receipts = len(receipts) + len(rejected - receipts.keys())
    summary.rejected_receipts = len(rejected)
    for start in range(0, len(good), CHUNK):
        items = [
            receipt_task(source, number, _generic(source, number, lines, mapping, shop))
            for number, lines in good[start : start + CHUNK]
        ]
        summary.stock_flags += flag_lines(queue.engine, good[start : start + CHUNK])
        if dry_run:
            summary.enqueued += len(items)  # would be: nothing is written
            continue
        new = queue.enqueue_many(
            "shop.order", [(i.payload, i.dedupe_key, i.ordering_key) for i in items], priority=BULK
        )
        # each sale line decrements the master's stock once, when catalogue.yaml allows it
        sales = offline_sale_items(source, good[start : start + CHUNK])
        queue.enqueue_many("catalogue.offline_sale", sales, priority=BULK)
        summary.enqueued += len(new)
        summary.already_imported += len(items) - len(new)
    return summary


def _check_row(
    path: str, line: int, row: dict[str, Any], mapping: Any, written: dict[str, str]
) -> BadRow | None:
    receipt = row.get(RECEIPT) or ""
    if not receipt:
        return BadRow(path, line, written[RECEIPT], "empty receipt number")
    try:
        mapping.to_canonical({"rows": [row]})
    except MappingError as error:
        reason = str(error.args[0]).removeprefix("system -> canonical: ")
        return BadRow(path, line, column_of(mapping, error, written), reason, receipt)
    return None


def _generic(
    source: str, number: str, lines: list[dict[str, Any]], mapping: Any, shop: Any
) -> dict[str, Any]:
    """One receipt in the generic shop format; its id carries the source (no clash with web
    orders of the same number)."""
    canonical = mapping.to_canonical({"rows": lines})
    data = json.loads(json.dumps(shop.to_system(canonical, creating=True), default=str))
    data["id"] = f"{source}-{number}"
    data["number"] = number
    for line in data.get("lines") or []:
        if line.get("sku") and not line.get("product_id"):
            line["product_id"] = line["sku"]  # a till knows an item by its SKU only
    return data
