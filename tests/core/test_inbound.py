"""Inbound events: stored with their task in one transaction, deduplicated by delivery id."""

from __future__ import annotations

import threading

from sqlalchemy import select

from connector.inbound import Inbound, InboundWriter, Recorded, TaskSpec, record_group
from connector.store.tables import inbound_events, tasks


def delivery(delivery_id: str, order_id: int = 1, topic: str | None = "order.updated") -> Inbound:
    task = None
    if topic is not None:
        task = TaskSpec("woocommerce.order", {"id": order_id}, f"order:woocommerce:{order_id}")
    return Inbound(
        "woocommerce",
        delivery_id,
        topic,
        f'{{"id": {order_id}}}'.encode(),
        {"X-WC-Webhook-Topic": topic or "", "Content-Type": "application/json"},
        task,
    )


def record(services, group: list[Inbound]) -> list[Recorded]:
    with services.engine.begin() as connection:
        return record_group(services.queue, connection, group)


def stored(services) -> tuple[list, list]:
    with services.engine.connect() as connection:
        events = connection.execute(select(inbound_events).order_by(inbound_events.c.id)).all()
        queued = connection.execute(select(tasks).order_by(tasks.c.id)).all()
    return events, queued


def test_a_new_delivery_is_stored_with_its_task(any_store_services):
    assert record(any_store_services, [delivery("d1", order_id=7)]) == [
        Recorded(duplicate=False, queued=True)
    ]
    events, queued = stored(any_store_services)
    assert [(e.source, e.delivery_id, e.topic, e.body) for e in events] == [
        ("woocommerce", "d1", "order.updated", '{"id": 7}')
    ]
    # Written as plain SQL, read back through SQLAlchemy's JSON type.
    assert events[0].headers["X-WC-Webhook-Topic"] == "order.updated"
    assert [(t.kind, t.payload, t.state, t.dedupe_key, t.ordering_key) for t in queued] == [
        ("woocommerce.order", {"id": 7}, "queued", "inbound:woocommerce:d1", "order:woocommerce:7")
    ]


def test_a_delivery_seen_before_or_twice_in_one_group_changes_nothing(any_store_services):
    record(any_store_services, [delivery("d1")])
    results = record(any_store_services, [delivery("d1"), delivery("d2"), delivery("d2")])
    assert results == [
        Recorded(duplicate=True),
        Recorded(duplicate=False, queued=True),
        Recorded(duplicate=True),
    ]
    events, queued = stored(any_store_services)
    assert [e.delivery_id for e in events] == ["d1", "d2"]
    assert [t.dedupe_key for t in queued] == ["inbound:woocommerce:d1", "inbound:woocommerce:d2"]


def test_events_of_one_entity_queue_behind_each_other(any_store_services):
    record(any_store_services, [delivery("a", order_id=1), delivery("b", order_id=1)])
    record(any_store_services, [delivery("c", order_id=1), delivery("d", order_id=2)])
    _, queued = stored(any_store_services)
    assert [(t.dedupe_key[-1], t.state) for t in queued] == [
        ("a", "queued"),
        ("b", "waiting"),
        ("c", "waiting"),
        ("d", "queued"),
    ]


def test_an_unknown_topic_is_recorded_without_a_task(any_store_services):
    assert record(any_store_services, [delivery("x", topic=None)]) == [
        Recorded(duplicate=False, queued=False)
    ]
    events, queued = stored(any_store_services)
    assert [e.delivery_id for e in events] == ["x"] and queued == []


def test_the_writer_stores_each_of_many_concurrent_deliveries_once(any_store_services):
    writer = InboundWriter(any_store_services.queue)
    results: list[Recorded] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        outcome = writer.record(delivery(f"d{n % 40}", order_id=n % 40))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(not r.duplicate for r in results) == 40
    events, queued = stored(any_store_services)
    assert len(events) == 40 and len(queued) == 40
    assert len({t.dedupe_key for t in queued}) == 40


def test_on_sqlite_the_writer_leaves_wal_checkpoints_to_a_background_thread(services):
    """The intake's commits never stall on a checkpoint; the log is still copied back."""
    from connector.store.checkpoints import autocheckpoint
    from tests.support import wait_for

    writer = InboundWriter(services.queue)
    for n in range(20):
        writer.record(delivery(f"w{n}", order_id=n + 1))
    assert autocheckpoint(writer._connection) == 0
    wait_for(lambda: writer._checkpointer.completed >= 1)
    pooled = writer._connection.connection.driver_connection
    writer.close()
    # Its connection goes back to the pool checkpointing again, as every other one does.
    assert pooled.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    events, _ = stored(services)
    assert len(events) == 20
