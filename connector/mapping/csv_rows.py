"""Turns a POS CSV export (a row per receipt line) into one record per receipt (`pos/order.yaml`).

A till exports sales as flat rows; mapping works on one record per order, so rows are grouped by
receipt number into `{"rows": [row, ...]}` and the mapping reads receipt fields from `rows[0]`
and lines from `rows[]`. Column names are normalised (`Receipt Number` -> `receipt_number`).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

_SEPARATORS = ",;\t"


def _column(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def group_receipts(text: str, key: str = "receipt_number") -> list[dict[str, Any]]:
    """Groups CSV text into receipts, in the order they first appear; blank rows are skipped."""
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=_SEPARATORS)
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    receipts: dict[str, dict[str, Any]] = {}
    for raw in reader:
        row = {_column(k): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        receipts.setdefault(str(row.get(key, "")), {"rows": []})["rows"].append(row)
    return list(receipts.values())
