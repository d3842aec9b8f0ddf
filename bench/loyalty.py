"""How fast the ledger applies order events and answers checkout holds, on SQLite.

Phase 1: N orders for C customers, each paid, delivered and a third partially refunded, applied
one event per transaction as the order flows do. Phase 2: hold + confirm through the checkout API
(Flask test client, no network), one order at a time. Ends with
`BENCH loyalty events_per_s=... hold_confirm_p50_ms=... hold_confirm_p99_ms=...`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from connector.app import create_app
from connector.config import load_settings
from connector.loyalty import LedgerProvider, OrderEvent
from connector.services import Services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--holds", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-loyalty-"))
    settings = load_settings(
        env={
            "CONNECTOR_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "CONNECTOR_ADMIN_TOKEN": "bench-token",
        },
        env_file=None,
    )
    services = Services(settings)
    ledger = LedgerProvider(services.engine, queue=services.queue)
    events = 0
    started = time.perf_counter()
    for number in range(args.orders):
        customer = f"c{number % args.customers}"
        order = f"bench:{number}"
        total = Decimal(100 + number % 900)
        ledger.apply_order_event(customer, order, OrderEvent("paid", total=total, version=1))
        ledger.apply_order_event(customer, order, OrderEvent("delivered", at=time.time()))
        events += 2
        if number % 3 == 0:
            refund = OrderEvent("refunded", total=total, amount=total / 3, refund_id="r1")
            ledger.apply_order_event(customer, order, refund)
            events += 1
    elapsed = time.perf_counter() - started
    for number in range(args.customers):
        ledger.accrue(f"c{number}", "bench-opening", Decimal(100_000))
    client = create_app(services).test_client()
    headers = {"Authorization": "Bearer bench-token"}
    timings = []
    for number in range(args.holds):
        body = {"customer_id": f"c{number % args.customers}", "order_id": f"h:{number}",
                "amount": "10"}  # fmt: skip
        begin = time.perf_counter()
        held = client.post("/api/loyalty/holds", json=body, headers=headers)
        assert held.status_code == 201, held.get_json()
        confirmed = client.post(f"/api/loyalty/holds/h:{number}/confirm", headers=headers)
        assert confirmed.status_code == 200
        timings.append((time.perf_counter() - begin) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"BENCH loyalty events_per_s={events / elapsed:.0f} "
        f"hold_confirm_p50_ms={statistics.median(timings):.1f} hold_confirm_p99_ms={p99:.1f}"
    )
    services.close()


if __name__ == "__main__":
    main()
