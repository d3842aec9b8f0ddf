"""How fast `connector reconcile --check` compares 100,000 orders, and in how much memory.

Two measurements, each on a temporary SQLite store seeded directly (bulk inserts: hub snapshots
with their lines, links to deals, Mailchimp orders, contacts and members, identity keys, ledger
records), with a few drifts planted (deals missing, amounts edited, Mailchimp orders dropped,
ledger records lost) whose count the run must find exactly:

1. `--orders` (100,000): the remote systems are in-process fakes that build each page of the
   shop's orders, deals, Mailchimp orders, contacts and members when asked for it, shaped as the
   APIs answer, so what is measured is the reconciliation itself (paging loops, compact rows,
   comparison, the store's reads), not HTTP. The emulators re-filter and re-sort every record for
   every page, which at this size would measure them instead.
2. `--http-orders` (5,000; 0 skips): the same against the bundled emulators over HTTP, their
   state seeded directly in Python, not through their APIs.

`seconds` is a run without tracing; `peak_mb` is the tracemalloc peak of a second, traced run
(Python allocations of the reconciliation, the seeded store excluded); `rows_per_s` counts every
row read (the shop's orders, hub snapshots, deals, Mailchimp orders, ledger records, contacts,
members) per second. Ends with `BENCH reconcile orders=... seconds=... peak_mb=... rows_per_s=...`.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from connector.config import load_settings
from connector.services import Services
from connector.store.tables import identity_keys, links, loyalty_orders
from connector.sync.reconcile import Report, reconcile

STATUSES = ("processing", "completed", "pending", "on-hold", "cancelled", "processing")
STAGES = {
    "processing": "EXECUTING",
    "completed": "WON",
    "pending": "NEW",
    "on-hold": "PREPAYMENT_INVOICE",
    "cancelled": "LOSE",
}
FINANCIAL = {
    "processing": "paid",
    "completed": "paid",
    "pending": "pending",
    "on-hold": "pending",
    "cancelled": "cancelled",
}
BUYERS = 0.6  # buyers per order: some customers buy again
CREATED = "2026-11-01T10:00:00"


@dataclass(frozen=True)
class Order:
    """One generated order: everything each system holds of it derives from `n`."""

    n: int
    shop_id: int

    @property
    def key(self) -> str:
        return f"woocommerce-{self.shop_id}"

    @property
    def status(self) -> str:
        return STATUSES[self.n % len(STATUSES)]

    @property
    def total(self) -> str:
        return f"{3 * (1 + self.n % 40)}.00"

    @property
    def paid(self) -> bool:
        return self.status in ("processing", "completed")

    def email(self, buyers: int) -> str:
        return f"buyer{self.n % buyers}@example.com"


@dataclass(frozen=True)
class Drifts:
    """Which orders each system lost or changed (every `k`-th), and how many differences."""

    count: int
    deal_missing: int = 997
    deal_amount: int = 1009
    mailchimp_missing: int = 1013
    ledger_missing: int = 1019

    def expected(self, orders: list[Order]) -> int:
        found = 0
        for order in orders:
            found += order.n % self.deal_missing == 0
            found += order.n % self.deal_missing != 0 and order.n % self.deal_amount == 0
            found += order.n % self.mailchimp_missing == 0
            found += order.paid and order.n % self.ledger_missing == 0
        return found


# -- the store ------------------------------------------------------------------------------------


def seed_store(services: Services, orders: list[Order], buyers: int, drifts: Drifts) -> None:
    """What the connector itself holds after syncing every order: snapshots, links, keys, ledger."""
    now = time.time()
    rows: dict[Any, list[dict[str, Any]]] = {links: [], identity_keys: [], loyalty_orders: []}
    for b in range(min(buyers, len(orders))):
        cid, email = f"c{b:016x}", f"buyer{b}@example.com"
        snapshot = {"id": cid, "email": email, "first_name": "Bench", "last_name": f"Buyer {b}"}
        rows[links] += [
            _link("customer", cid, "hub", cid, snapshot, now),
            _link("customer", cid, "bitrix24", str(b + 1), None, now),
            _link("customer", cid, "mailchimp", email, None, now),
        ]
        rows[identity_keys].append({"kind": "email", "value": email, "canonical_id": cid})
    for order in orders:
        email = order.email(buyers)
        snapshot = {
            "id": order.key,
            "number": str(order.shop_id),
            "status": order.status,
            "currency": "USD",
            "total": order.total,
            "email": email,
            "customer_id": f"c{order.n % buyers:016x}",
            "created_at": f"{CREATED}+00:00",
            "updated_at": f"{CREATED}+00:00",
            "paid_at": f"{CREATED}+00:00" if order.paid else None,
            "custom": {"source": {"system": "woocommerce", "id": str(order.shop_id)}},
            "lines": [
                {"id": str(5000 + order.n), "product_id": "93", "name": "Woo Single #1",
                 "quantity": str(1 + order.n % 40), "price": "3", "total": order.total}
            ],
        }  # fmt: skip
        rows[links] += [
            _link("order", order.key, "hub", order.key, snapshot, now),
            _link("order", order.key, "woocommerce", str(order.shop_id), None, now),
            _link("order", order.key, "bitrix24", str(order.n + 1), {"status": order.status}, now),
            _link("order", order.key, "mailchimp", order.key, None, now),
        ]
        if order.paid and order.n % drifts.ledger_missing:
            rows[loyalty_orders].append(_ledger(order, now))
    with services.engine.begin() as connection:
        for table, values in rows.items():
            for start in range(0, len(values), 5000):
                connection.execute(insert(table), values[start : start + 5000])


def _link(entity: str, cid: str, system: str, ref: str, data: Any, now: float) -> dict[str, Any]:
    return {
        "entity": entity,
        "canonical_id": cid,
        "system": system,
        "external_id": ref,
        "fingerprint": None,
        "version": None,
        "data": data,
        "updated_at": now,
    }


def _ledger(order: Order, now: float) -> dict[str, Any]:
    return {
        "order_id": order.key,
        "customer_id": "c0",
        "total": int(float(order.total) * 100),
        "bonus_spent": 0,
        "paid_version": CREATED,
        "paid_at": now,
        "refunds": {},
        "confirmed_spend": 0,
        "accrual": int(float(order.total) * 5),
        "released": 0,
        "updated_at": now,
    }


# -- fake remote systems (mode 1) -----------------------------------------------------------------


class FakeShop:
    """`list_orders` / `list_customers` of WooCommerceClient, a page of 100 built at a time."""

    def __init__(self, orders: list[Order], buyers: int) -> None:
        self.orders, self.buyers = orders, buyers

    def list_orders(self, **filters: Any) -> Iterator[dict[str, Any]]:
        for start in range(0, len(self.orders), 100):
            page = [self._order(o) for o in self.orders[start : start + 100]]
            yield from json.loads(json.dumps(page))  # as decoded from an answer

    def _order(self, order: Order) -> dict[str, Any]:
        email = order.email(self.buyers)
        return {
            "id": order.shop_id,
            "number": str(order.shop_id),
            "status": order.status,
            "total": order.total,
            "date_paid_gmt": CREATED if order.paid else None,
            "billing": {"first_name": "Bench", "last_name": "Buyer", "email": email,
                        "phone": "(555) 555-0100", "address_1": "1 Main St", "city": "Springfield"},
        }  # fmt: skip

    def list_customers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return iter(())  # guests only


class FakeBitrix24:
    """`list_all` of Bitrix24Client over deals and contacts, 50-row pages."""

    def __init__(self, orders: list[Order], buyers: int, drifts: Drifts) -> None:
        self.orders, self.buyers, self.drifts = orders, buyers, drifts

    def list_all(self, method: str, filter: Any = None, select: Any = None, **_: Any):
        if method == "crm.contact.list":
            for start in range(0, self.buyers, 50):
                ids = range(start + 1, min(start + 51, self.buyers + 1))
                yield from json.loads(json.dumps([{"ID": str(i)} for i in ids]))
            return
        for start in range(0, len(self.orders), 50):
            page = [self._deal(o) for o in self.orders[start : start + 50]]
            yield from json.loads(json.dumps([d for d in page if d]))

    def _deal(self, order: Order) -> dict[str, Any] | None:
        if order.n % self.drifts.deal_missing == 0:
            return None
        amount = "999.00" if order.n % self.drifts.deal_amount == 0 else order.total
        return {
            "ID": str(order.n + 1),
            "ORIGIN_ID": order.key,
            "UF_CRM_ORDER_NUMBER": str(order.shop_id),
            "STAGE_ID": STAGES[order.status],
            "OPPORTUNITY": amount,
        }


class FakeMailchimp:
    """`list_orders` / `list_members` of MailchimpClient, 1,000 items a page."""

    def __init__(self, orders: list[Order], buyers: int, drifts: Drifts) -> None:
        self.orders, self.buyers, self.drifts = orders, buyers, drifts

    def list_orders(self, store_id: str, fields: Any = (), **_: Any) -> Iterator[dict[str, Any]]:
        for start in range(0, len(self.orders), 1000):
            page = [
                {
                    "id": o.key,
                    "order_total": float(o.total),
                    "financial_status": FINANCIAL[o.status],
                }
                for o in self.orders[start : start + 1000]
                if o.n % self.drifts.mailchimp_missing
            ]
            yield from json.loads(json.dumps(page))

    def list_members(self, list_id: str, fields: Any = (), status: Any = None, **_: Any):
        if status == "archived":
            return
        for start in range(0, self.buyers, 1000):
            page = [{"email_address": f"buyer{b}@example.com"}
                    for b in range(start, min(start + 1000, self.buyers))]  # fmt: skip
            yield from json.loads(json.dumps(page))


# -- the emulators (mode 2) -----------------------------------------------------------------------


def seed_emulators(sandbox: Any, count: int, buyers: int, drifts: Drifts) -> list[Order]:
    """Orders in the shop, deals and contacts in the portal, orders and members in Mailchimp:
    written into the emulators' state in Python, not through their APIs."""
    from connector_sandbox.bitrix24.fields import CONTACT, DEAL

    shop = sandbox.apps["woocommerce"].extensions["woocommerce"]
    portal = sandbox.apps["bitrix24"].extensions["bitrix24"]
    mailchimp = sandbox.apps["mailchimp"].extensions["mailchimp"]
    config = sandbox.config["mailchimp"]
    orders = []
    for n in range(count):
        body = {
            "status": STATUSES[n % len(STATUSES)],
            "billing": {"email": f"buyer{n % buyers}@example.com", "first_name": "Bench"},
            "line_items": [{"product_id": 93, "quantity": 1 + n % 40}],
        }
        record = shop.create_order(body)
        orders.append(Order(n, int(record["id"])))
        assert record["total"] == orders[-1].total, (record["total"], orders[-1].total)
    with portal.state.lock:
        for b in range(buyers):
            portal.crm.add(CONTACT, {"NAME": f"Buyer {b}"}, 1)
        for order in orders:
            deal = FakeBitrix24([order], buyers, drifts)._deal(order)
            if deal is None:  # made and deleted, so the IDs stay in step with the links
                gone = portal.crm.add(DEAL, {"TITLE": "deleted"}, 1)
                portal.crm.delete(DEAL, portal.crm.find(DEAL, gone), 1)
                continue
            wanted = ("ORIGIN_ID", "STAGE_ID", "OPPORTUNITY")
            fields = {k: deal[k] for k in wanted} | {"IS_MANUAL_OPPORTUNITY": "Y"}
            portal.crm.add(DEAL, fields, 1)
    # the sandbox starts with the connector's store and audience
    items = mailchimp.store_items[config["store_id"]]["orders"]
    for page in FakeMailchimp(orders, buyers, drifts).list_orders(config["store_id"]):
        items[page["id"]] = page
    for b in range(buyers):
        body = {"email_address": f"buyer{b}@example.com", "status": "transactional"}
        mailchimp.add_member(config["list_id"], body, True)
    return orders


# -- measuring ------------------------------------------------------------------------------------


def services_on(folder: Path, env: dict[str, str]) -> Services:
    settings = load_settings(
        env={"CONNECTOR_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", **env}, env_file=None
    )
    services = Services(settings)
    _ = services.engine, services.queue, services.mappings.current, services.registry
    return services


def measure(services: Services, expected: int) -> tuple[float, float, Report]:
    """(seconds of an untraced run, tracemalloc peak MiB of a traced one, the report)."""
    gc.collect()
    started = time.perf_counter()
    report = reconcile(services)
    seconds = time.perf_counter() - started
    assert len(report.differences) == expected, (len(report.differences), expected)
    del report
    gc.collect()
    tracemalloc.start()
    report = reconcile(services)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, report


def mocked(count: int) -> tuple[float, float, int]:
    buyers = max(1, int(count * BUYERS))
    orders = [Order(n, 1000 + n) for n in range(count)]
    drifts = Drifts(count)
    with tempfile.TemporaryDirectory() as folder:
        services = services_on(
            Path(folder),
            {
                "CONNECTOR_WOOCOMMERCE_URL": "http://shop.invalid",
                "CONNECTOR_BITRIX24_WEBHOOK_URL": "http://portal.invalid/rest/1/token/",
                "CONNECTOR_MAILCHIMP_API_KEY": "0123456789abcdef-us1",
                "CONNECTOR_MAILCHIMP_LIST_ID": "list",
            },
        )
        started = time.perf_counter()
        seed_store(services, orders, buyers, drifts)
        print(f"seeded the store with {count:,} orders in {time.perf_counter() - started:.1f} s")
        services.__dict__["woocommerce"] = FakeShop(orders, buyers)
        services.__dict__["bitrix24"] = FakeBitrix24(orders, buyers, drifts)
        services.__dict__["mailchimp"] = FakeMailchimp(orders, buyers, drifts)
        seconds, peak, report = measure(services, drifts.expected(orders))
        services.close()
    rows = sum(report.read.values())
    print(f"mocked sources: {count:,} orders, {rows:,} rows read, {len(report.differences)} "
          f"differences, {seconds:.1f} s, peak {peak:.0f} MiB; read: {report.read}")  # fmt: skip
    return seconds, peak, rows


def over_http(count: int) -> tuple[float, float, int]:
    from connector_sandbox.runner import Sandbox

    buyers = max(1, int(count * BUYERS))
    drifts = Drifts(count)
    with Sandbox(names=("bitrix24", "mailchimp", "woocommerce")) as sandbox:
        started = time.perf_counter()
        orders = seed_emulators(sandbox, count, buyers, drifts)
        print(
            f"seeded the emulators with {count:,} orders in {time.perf_counter() - started:.1f} s"
        )
        with tempfile.TemporaryDirectory() as folder:
            env = sandbox.settings_env()
            services = services_on(Path(folder), env)
            seed_store(services, orders, buyers, drifts)
            seconds, peak, report = measure(services, drifts.expected(orders))
            services.close()
    rows = sum(report.read.values())
    found = len(report.differences)
    print(f"emulators over HTTP: {count:,} orders, {rows:,} rows read, {found} differences, "
          f"{seconds:.1f} s, peak {peak:.0f} MiB")  # fmt: skip
    return seconds, peak, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="Orders, sources mocked.")
    parser.add_argument("--http-orders", type=int, default=5_000, help="Orders over HTTP (0: no).")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if args.http_orders:
        seconds, peak, rows = over_http(args.http_orders)
        print(
            f"BENCH reconcile_http orders={args.http_orders} seconds={seconds:.2f} "
            f"peak_mb={peak:.1f} rows_per_s={rows / seconds:.0f}"
        )
    seconds, peak, rows = mocked(args.orders)
    print(
        f"BENCH reconcile orders={args.orders} seconds={seconds:.2f} peak_mb={peak:.1f} "
        f"rows_per_s={rows / seconds:.0f}"
    )


if __name__ == "__main__":
    main()
