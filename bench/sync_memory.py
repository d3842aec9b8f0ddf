"""Memory of a full sync: the tracemalloc peak stays flat as the shop grows.

Runs `sync --full` of WooCommerce orders (FullSync.run_stream) against an in-process fake shop
that builds each page of 100 realistic orders when it is asked for it, so only the sync's own
allocations are measured, for 1,000 and 5,000 orders (or --sizes) on a temporary SQLite store.
A streamed sync holds one page at a time: the peak should not grow with the number of orders.
Ends with `BENCH sync_memory records=... peak_kib=... ratio=...`.
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from connector.config import load_settings
from connector.services import Services
from connector.sync.full import FullSync


class FakeShop:
    """`request_full` of WooCommerceClient over `count` generated orders, page by page."""

    def __init__(self, count: int, per_page: int = 100) -> None:
        self.count, self.per_page = count, per_page

    def request_full(self, method: str, path: str, params: dict[str, Any] | None = None, **_: Any):
        page = int((params or {}).get("page", 1))
        first = (page - 1) * self.per_page
        rows = [self._order(1000 + i) for i in range(first, min(first + self.per_page, self.count))]
        headers = {
            "X-WP-Total": str(self.count),
            "X-WP-TotalPages": str(math.ceil(self.count / self.per_page)),
        }
        return rows, headers

    @staticmethod
    def _order(order_id: int) -> dict[str, Any]:
        return {
            "id": order_id,
            "status": "processing",
            "date_modified_gmt": f"2026-11-{1 + order_id % 28:02d}T10:00:00",
            "billing": {"email": f"buyer{order_id}@example.com", "phone": "(555) 123-4567"},
            "line_items": [{"sku": f"SKU-{n}", "quantity": 1, "price": 9.5} for n in range(5)],
            "meta_data": [{"key": "note", "value": "x" * 200}],
        }


def measure(count: int) -> tuple[float, float]:
    """(tracemalloc peak in KiB, seconds) of one full sync of `count` orders."""
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            env={
                "CONNECTOR_DATABASE_URL": f"sqlite:///{Path(folder) / 'bench.db'}",
                "CONNECTOR_WOOCOMMERCE_URL": "http://shop.invalid",
            },
            env_file=None,
        )
        services = Services(settings)
        services.__dict__["woocommerce"] = FakeShop(count)
        _ = services.engine, services.queue  # migrations and set-up are not the sync
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        report = FullSync(services).run_stream("woocommerce", "orders")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        services.close()
    assert report.outcome.enqueued == count, report.as_dict()
    return peak / 1024, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="Order counts to compare.")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    peaks = []
    for size in sizes:
        peak, elapsed = measure(size)
        peaks.append(peak)
        print(
            f"{size} orders: peak {peak:.0f} KiB, {elapsed:.1f} s ({size / elapsed:.0f} orders/s)"
        )
    figures = " ".join(f"records={s} peak_kib={p:.0f}" for s, p in zip(sizes, peaks, strict=True))
    print(f"BENCH sync_memory {figures} ratio={peaks[-1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
