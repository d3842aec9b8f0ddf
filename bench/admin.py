"""How fast each console page answers on a big store (issue 14: p95 under 200 ms each).

A temporary SQLite store is seeded directly with `--done` finished tasks (1,000,000) of every
kind, spread over the last week; `--dead` dead letters (10,000), each with three failed attempts;
`--customers` customers (100,000), each with a phone, an email and a card, a hub snapshot, a
Bitrix24 contact, one order with its deal, a bonus account and one ledger entry; 10,000 inbound
webhook events; 10,000 lines of the console's audit trail. Then every page is fetched `--runs`
times through the app (a signed-in admin, Flask's test client: the app's own time, no network)
and the p50 and p95 of each printed:

    BENCH admin page=overview p50_ms=... p95_ms=...

Run: .venv/bin/python bench/admin.py [--done 1000000 --dead 10000 --customers 100000 --runs 20]
"""

from __future__ import annotations

import sys

# bench/ holds scripts named like top-level modules: keep it off the path.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from argon2 import PasswordHasher  # noqa: E402

from connector.admin import accounts_for  # noqa: E402
from connector.app import create_app  # noqa: E402
from connector.config import load_settings  # noqa: E402
from connector.services import Services  # noqa: E402

WEEK = 7 * 86400.0
PASSWORD = "bench-password"


def seed_tasks(services: Services, done: int, dead: int, now: float) -> None:
    kinds = services.registry.kinds()
    rng = random.Random(7)
    raw = services.engine.raw_connection()
    cursor = raw.cursor()
    insert = (
        "INSERT INTO tasks (kind, payload, state, run_at, enqueued_at, attempts, finished_at,"
        " last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[Any, ...]] = []
    for number in range(done):
        at = now - WEEK * (1 - number / done)
        batch.append((kinds[number % len(kinds)], "{}", "done", at, at, 1, at + 0.5, None))
        if len(batch) == 50_000:
            cursor.executemany(insert, batch)
            batch.clear()
    cursor.executemany(insert, batch)
    first_dead = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchone()[0]
    letters = []
    for number in range(dead):
        payload = json.dumps({"order": f"SITE-{number}", "phone": f"+7916{number:07d}"})
        error = rng.choice(["Bitrix24 answered 400: stage unknown", "no entry for 'x'", "403"])
        letters.append((rng.choice(kinds), payload, "dead", now, now - 3600, 3, now - 60, error))
    cursor.executemany(insert, letters)
    cursor.executemany(
        "INSERT INTO task_errors (task_id, attempt, started_at, failed_at, error_type, message)"
        " VALUES (?, ?, ?, ?, 'PermanentError', 'Bitrix24 answered 400 for +7 912 345 67 89')",
        [
            (task_id, attempt, now - 120, now - 100 + attempt)
            for task_id in range(first_dead, first_dead + dead)
            for attempt in (1, 2, 3)
        ],
    )
    raw.commit()
    raw.close()


def seed_customers(services: Services, customers: int, now: float) -> None:
    raw = services.engine.raw_connection()
    cursor = raw.cursor()
    keys, links, accounts, entries, events = [], [], [], [], []
    for n in range(customers):
        cid = f"c{n:08d}"
        phone, email, card = f"+7915{n:07d}", f"person{n}@example.com", f"77{n:011d}"
        keys += [("phone", phone, cid), ("email", email, cid), ("card", card, cid)]
        hub = {"first_name": "Анна", "last_name": f"Петрова {n}", "email": email, "phone": phone}
        order = f"shop-{n}"
        links += [
            ("customer", cid, "hub", cid, json.dumps(hub, ensure_ascii=False), now),
            ("customer", cid, "bitrix24", str(n + 1), "{}", now),
            ("order", order, "hub", order, json.dumps({"customer_id": cid, "total": "10"}), now),
            ("order", order, "bitrix24", str(500000 + n), json.dumps({"status": "paid"}), now),
        ]
        accounts.append((cid, card, now))
        entries.append((cid, "accrual", 1000, 0, 0, 0, order, f"accrual:{order}", now))
    cursor.executemany(
        "INSERT INTO identity_keys (kind, value, canonical_id) VALUES (?, ?, ?)", keys
    )
    cursor.executemany(
        "INSERT INTO links (entity, canonical_id, system, external_id, data, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        links,
    )
    cursor.executemany(
        "INSERT INTO loyalty_accounts (customer_id, card_number, created_at) VALUES (?, ?, ?)",
        accounts,
    )
    cursor.executemany(
        "INSERT INTO loyalty_entries (customer_id, kind, available, pending, held, shortfall,"
        " order_id, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        entries,
    )
    for n in range(10_000):
        body = json.dumps({"type": "order.created", "data": {"id": f"SITE-{n}", "phone": "x"}})
        events.append(("shop", f"msg-{n}", "order.created", now - n, "{}", body))
    cursor.executemany(
        "INSERT INTO inbound_events (source, delivery_id, topic, received_at, headers, body)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        events,
    )
    cursor.executemany(
        "INSERT INTO admin_actions (at, account, action, target, address) VALUES (?, ?, ?, ?, ?)",
        [(now - n, "admin", "dead-letter-replay", f"task {n}", "127.0.0.1") for n in range(10_000)],
    )
    raw.commit()
    raw.close()


def pages(customers: int, dead_id: int) -> dict[str, str]:
    someone = customers // 2
    return {
        "overview": "/admin/overview/",
        "dead_letters": "/admin/dead-letters/",
        "dead_letters_filtered": "/admin/dead-letters/?system=bitrix24&error=stage",
        "dead_letter": f"/admin/dead-letters/{dead_id}",
        "replay_all_confirm": "/admin/dead-letters/confirm/replay?error=stage",
        "customer_by_phone": f"/admin/customers/?q=8 915 {someone:07d}",
        "customer_by_email": f"/admin/customers/?q=person{someone}@example.com",
        "customer_by_card": f"/admin/customers/?q=77{someone:011d}",
        "customer_by_order": f"/admin/customers/?q={500000 + someone}",
        "customer_unknown_phone": "/admin/customers/?q=%2B7 999 000 00 00",
        "audit": "/admin/audit/",
        "accounts": "/admin/accounts/",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--done", type=int, default=1_000_000)
    parser.add_argument("--dead", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            env={"CONNECTOR_DATABASE_URL": f"sqlite:///{Path(folder) / 'connector.db'}"},
            env_file=None,
        )
        services = Services(settings)
        now = services.queue.clock()
        started = time.perf_counter()
        services.engine  # noqa: B018 - migrates the store
        seed_tasks(services, options.done, options.dead, now)
        seed_customers(services, options.customers, now)
        with services.engine.connect() as connection:  # fresh statistics for the planner
            connection.exec_driver_sql("ANALYZE")
        print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        app = create_app(services)
        app.extensions["connector_admin"]["accounts"].hasher = PasswordHasher(
            time_cost=1, memory_cost=1024, parallelism=1
        )
        accounts_for(services).add("admin", "admin", PASSWORD)
        client = app.test_client()
        form = client.get("/admin/sign-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed = client.post(
            "/admin/sign-in",
            data={"name": "admin", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert signed.status_code == 303, signed.status_code
        dead_id = services.queue.dead_letters(limit=1)[0]["id"]
        for name, path in pages(options.customers, dead_id).items():
            times = []
            for _ in range(options.runs + 1):
                begin = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - begin) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            times = sorted(times[1:])  # the first run warms caches and templates
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            print(
                f"BENCH admin page={name} p50_ms={statistics.median(times):.1f} "
                f"p95_ms={p95:.1f} runs={options.runs}",
                flush=True,
            )


if __name__ == "__main__":
    main()
