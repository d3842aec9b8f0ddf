"""The Kaspi price list at size: memory flat in the catalogue's size, and a cheap re-fetch.

Seeds a temporary SQLite store with N catalogue products (one variant each, stock in two
warehouses mapped to two Kaspi stores; every tenth on sale, every twentieth deleted), then GETs
`/feeds/kaspi/<token>.xml` through the web app and reads the streamed body chunk by chunk, for
two sizes (default 10,000 and 50,000 offers). Prints per size the tracemalloc peak of the fetch,
its time and document size, and the time of a re-fetch answered 304 (If-None-Match):

    BENCH kaspi_feed offers=50000 peak_kib=... seconds=... mib=... not_modified_ms=...
    BENCH kaspi_feed peak_ratio=...   (the largest size's peak over the smallest: ~1 is flat)

    .venv/bin/python bench/kaspi_feed.py --sizes 10000 50000
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from connector.app import create_app
from connector.catalogue import Product, Variant, save_product
from connector.config import load_settings
from connector.services import Services

TOKEN = "bench-feed-token-0123456789abcdef"
STORES = (
    "value_map: kaspi_store\nout: {almaty: PP1, astana: PP2}\nunmapped: {in: keep, out: error}\n"
)


def seed(services: Services, count: int) -> None:
    with services.engine.begin() as connection:
        for n in range(count):
            sale = {"sale_price": "899.00", "sale_from": "2026-01-01T00:00:00+00:00"}
            variant = Variant(
                variant_id=str(n),
                sku=f"SKU{n:07d}",
                name=f"Наушники модель {n} чёрные, 32 ГБ",
                price=f"{1000 + n % 5000}.00",
                currency="KZT",
                stock=n % 7,
                stock_by_warehouse={"almaty": n % 4, "astana": n % 7 - n % 4},
                **(sale if n % 10 == 0 else {}),
            )
            product = Product(
                product_id=f"{n:07d}",
                name=variant.name,
                variants=(variant,),
                status="deleted" if n % 20 == 0 else "active",
            )
            save_product(connection, product)


def measure(count: int, folder: Path) -> dict[str, float]:
    mappings = folder / "mappings" / "kaspi"
    mappings.mkdir(parents=True)
    (mappings / "store.yaml").write_text(STORES)
    settings = load_settings(
        env={
            "CONNECTOR_DATABASE_URL": f"sqlite:///{folder / 'connector.db'}",
            "CONNECTOR_MAPPINGS_DIR": str(folder / "mappings"),
            "CONNECTOR_KASPI_FEED_TOKEN": TOKEN,
            "CONNECTOR_KASPI_MERCHANT_ID": "30286450",
        },
        env_file=None,
    )
    services = Services(settings)
    try:
        seed(services, count)
        client = create_app(services).test_client()
        url = f"/feeds/kaspi/{TOKEN}.xml"
        client.get(url).close()  # warm: imports, mappings, the first statements
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        response = client.get(url, buffered=False)
        size = sum(len(chunk) for chunk in response.response)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        etag = response.headers["ETag"]
        response.close()
        started = time.perf_counter()
        cached = client.get(url, headers={"If-None-Match": etag})
        not_modified = time.perf_counter() - started
        assert cached.status_code == 304, cached.status_code
        return {
            "peak_kib": peak / 1024,
            "seconds": seconds,
            "mib": size / 2**20,
            "not_modified_ms": not_modified * 1000,
        }
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    args = parser.parse_args()
    peaks = []
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            figures = measure(count, Path(folder))
        peaks.append(figures["peak_kib"])
        print(
            f"BENCH kaspi_feed offers={count} peak_kib={figures['peak_kib']:.0f} "
            f"seconds={figures['seconds']:.2f} mib={figures['mib']:.1f} "
            f"not_modified_ms={figures['not_modified_ms']:.1f}",
            flush=True,
        )
    print(f"BENCH kaspi_feed peak_ratio={peaks[-1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
