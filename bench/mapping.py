"""Records per second of the mapping engine, on one core: a 30-field customer and a 10-line order.

Customer: the shipped WooCommerce customer mapping plus custom fields up to 30 field pairs
(phone, email, dates, selectors: the expensive transforms are all in). Order: the shipped
WooCommerce order mapping on the official example order grown to 10 lines, in, and out to a
Bitrix24 deal plus its product rows. Target: at least 20,000 customers/s.

    .venv/bin/python bench/mapping.py [--seconds 2]

The last line is `BENCH mapping customers_per_s=... orders_per_s=...` (system -> canonical).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from connector.mapping import MappingSet

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs" / "woocommerce"

CUSTOMER = {
    "id": 25,
    "date_created_gmt": "2017-03-21T19:09:28",
    "date_modified_gmt": "2017-03-21T19:09:30",
    "email": "John.Doe@Example.com",
    "first_name": "John",
    "last_name": "Doe",
    "username": "john.doe",
    "billing": {
        "first_name": "John",
        "last_name": "Doe",
        "company": "",
        "address_1": "969 Market",
        "address_2": "",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
        "email": "john.doe@example.com",
        "phone": "(555) 555-5555",
    },
    "is_paying_customer": False,
    "meta_data": [{"id": 1, "key": "mailchimp_woocommerce_is_subscribed", "value": "1"}],
}


def _bench_mappings(into: Path) -> int:
    """Copies the shipped mappings and grows the WooCommerce customer to 30 field pairs."""
    shutil.copytree(ROOT / "mappings", into, dirs_exist_ok=True)
    path = into / "woocommerce/customer.yaml"
    text = path.read_text(encoding="utf-8")
    existing = text.count("\n  - ")
    extra = 30 - existing
    lines = [
        f"  - {{canonical: custom.extra_{i}, system: extra.field_{i}, transforms: [trim]}}"
        for i in range(extra)
    ]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    for i in range(extra):
        CUSTOMER.setdefault("extra", {})[f"field_{i}"] = f" value {i} "
    return existing + extra


def _fresh_customers() -> Iterator[dict[str, Any]]:
    """Customers whose phone and email were never seen: no help from the phone cache."""
    billing = CUSTOMER["billing"]
    for n in itertools.count():
        area = 200 + n // 1_000_000 % 100
        phone = f"({area}) {n // 10_000 % 100 + 200:03d}-{n % 10_000:04d}"
        yield {
            **CUSTOMER,
            "email": f"customer{n}@example.com",
            "billing": {**billing, "phone": phone},
        }


def _order() -> dict[str, Any]:
    order = json.loads((SPECS / "order.json").read_text(encoding="utf-8"))
    lines = order["line_items"]
    order["line_items"] = [dict(copy.deepcopy(lines[i % 2]), id=300 + i) for i in range(10)]
    return order


def rate(work: Callable[[], Any], seconds: float) -> float:
    """Best of three runs of `seconds / 3` each, in calls per second."""
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        deadline = started + seconds / 3
        while True:
            for _ in range(200):
                work()
            count += 200
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        fields = _bench_mappings(Path(folder))
        mappings = MappingSet.load(folder)
    customer_map = mappings.get("woocommerce", "customer")
    order_map = mappings.get("woocommerce", "order")
    deal_map = mappings.get("bitrix24", "deal")
    rows_map = mappings.get("bitrix24", "product_rows")
    order = _order()
    canonical_customer = customer_map.to_canonical(CUSTOMER)
    canonical_order = order_map.to_canonical(order)
    assert len(customer_map.rules) == fields == 30 and len(canonical_order["lines"]) == 10

    customers_in = rate(lambda: customer_map.to_canonical(CUSTOMER), args.seconds)
    fresh = _fresh_customers()
    customers_cold = rate(lambda: customer_map.to_canonical(next(fresh)), args.seconds)
    customers_out = rate(lambda: customer_map.to_system(canonical_customer), args.seconds)
    orders_in = rate(lambda: order_map.to_canonical(order), args.seconds)

    def order_out() -> None:
        deal_map.to_system(canonical_order, creating=True)
        rows_map.to_system(canonical_order)

    orders_out = rate(order_out, args.seconds)
    print(f"customer: {fields} field pairs; order: 10 lines, {len(order_map.rules)} rules")
    print(f"customers in  (woocommerce -> canonical): {customers_in:10,.0f}/s")
    print(f"customers in, every phone new (cold cache): {customers_cold:10,.0f}/s")
    print(f"customers out (canonical -> woocommerce): {customers_out:10,.0f}/s")
    print(f"orders in     (woocommerce -> canonical): {orders_in:10,.0f}/s")
    print(f"orders out    (canonical -> bitrix24 deal + rows): {orders_out:10,.0f}/s")
    print(f"BENCH mapping customers_per_s={customers_in:.0f} orders_per_s={orders_in:.0f}")


if __name__ == "__main__":
    main()
