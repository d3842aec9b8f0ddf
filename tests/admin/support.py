"""Helpers of the console's tests: dead letters made the way the worker makes them."""

from __future__ import annotations

from typing import Any

from connector.errors import PermanentError
from connector.services import Services


def make_dead_letter(
    services: Services, kind: str, payload: dict[str, Any], error: str = "refused"
) -> int:
    """Enqueues a task, claims it and fails it for good: a dead letter with one attempt."""
    queue = services.queue
    task_id = queue.enqueue(kind, payload)
    assert task_id is not None
    claimed = queue.claim("test-worker", limit=100)
    task = next(t for t in claimed if t.id == task_id)
    assert queue.fail(task, "test-worker", PermanentError(error)) == "dead"
    for other in claimed:
        if other.id != task_id:
            queue.release([other], "test-worker")
    return task_id


def make_customer(
    services: Services,
    cid: str = "cust-1",
    first_name: str = "Мария",
    phone: str = "+79161234567",
    email: str = "maria@example.com",
) -> None:
    """A customer as the flows leave one: keys, the hub snapshot, a Bitrix24 contact and a
    WooCommerce customer, one order with its deal (stage) and shipment, a bonus account."""
    import time

    from sqlalchemy import insert

    from connector.identity import add_keys, save_link
    from connector.store.tables import loyalty_accounts

    engine = services.engine
    with engine.begin() as connection:
        add_keys(connection, cid, [("phone", phone), ("email", email), ("card", "2000000000017")])
        save_link(
            connection,
            "customer",
            cid,
            "hub",
            cid,
            data={
                "first_name": first_name,
                "last_name": "Иванова",
                "email": email,
                "phone": phone,
                "marketing_consent": True,
            },
        )
        save_link(connection, "customer", cid, "bitrix24", "41", data={})
        save_link(connection, "customer", cid, "woocommerce", "7", data={})
        order = f"order-{cid}"
        save_link(
            connection,
            "order",
            order,
            "hub",
            order,
            data={
                "customer_id": cid,
                "status": "processing",
                "total": "1500.00",
                "currency": "RUB",
                "created_at": "2026-12-01T10:00:00",
            },
        )
        save_link(connection, "order", order, "woocommerce", "1001", data={"status": "processing"})
        save_link(connection, "order", order, "bitrix24", "77", data={"stage": "C1:PREPARATION"})
        save_link(connection, "shipment", order, "cdek", "CDEK-555", data={"state": "in_transit"})
        connection.execute(
            insert(loyalty_accounts).values(
                customer_id=cid, card_number="2000000000017", tier=None, created_at=time.time()
            )
        )
