"""Priorities and fairness in the queue (issue 13), told as stories: a live order never waits
behind a full sync's backlog, and one system's backlog never starves another's."""

from __future__ import annotations

import pytest

from connector.inbound import Inbound, TaskSpec, record_group
from connector.queue import BULK, LIVE, POLL, Queue, RetryPolicy
from connector.worker import Worker


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(any_store_services, clock) -> Queue:
    return Queue(any_store_services.engine, RetryPolicy(lease_seconds=30), clock=clock)


def bulk_backlog(queue: Queue, count: int, kind: str = "woocommerce.order") -> None:
    for first in range(0, count, 1000):
        items = [({"n": n}, f"{kind}:{n}", None) for n in range(first, min(first + 1000, count))]
        queue.enqueue_many(kind, items, priority=BULK)


def test_a_live_order_enqueued_behind_ten_thousand_bulk_tasks_is_claimed_next(queue):
    bulk_backlog(queue, 10_000)
    live = queue.enqueue("woocommerce.order", {"id": 42}, priority=LIVE)
    [claimed] = queue.claim("w", limit=1)
    assert claimed.id == live and claimed.priority == LIVE
    assert [t.priority for t in queue.claim("w", limit=3)] == [BULK, BULK, BULK]


def test_polls_come_after_live_tasks_and_before_bulk_ones(queue):
    bulk = queue.enqueue("sync.poll", {"n": 1}, priority=BULK)
    poll = queue.enqueue("sync.poll", {"n": 2})  # no priority given: a poll
    live = queue.enqueue("sync.poll", {"n": 3}, priority=LIVE)
    assert [t.id for t in queue.claim("w", limit=3)] == [live, poll, bulk]


def test_two_systems_backlogs_interleave(queue):
    deals = [queue.enqueue("push.bitrix24.deal", {"n": n}) for n in range(50)]
    members = [queue.enqueue("push.mailchimp.member", {"n": n}) for n in range(50)]
    one_at_a_time = [queue.claim("w", limit=1)[0] for _ in range(6)]
    assert [t.lane for t in one_at_a_time] == ["bitrix24", "mailchimp"] * 3
    assert [t.id for t in one_at_a_time] == [deals[0], members[0], deals[1], members[1]] + [
        deals[2],
        members[2],
    ]
    batch = queue.claim("w", limit=4)
    assert sorted(t.lane for t in batch) == ["bitrix24", "bitrix24", "mailchimp", "mailchimp"]


def test_a_third_system_joining_late_is_served_in_the_next_claim(queue):
    for n in range(20):
        queue.enqueue("push.bitrix24.deal", {"n": n})
        queue.enqueue("push.mailchimp.member", {"n": n})
    queue.claim("w", limit=4)
    late = queue.enqueue("cdek.status", {"n": 1})
    assert late in [t.id for t in queue.claim("w", limit=3)]


def test_a_live_task_behind_a_bulk_head_of_its_key_hurries_the_head_and_keeps_the_order(queue):
    head = queue.enqueue("woocommerce.order", {"v": 1}, ordering_key="order:wc:7", priority=BULK)
    bulk_backlog(queue, 200)
    live = queue.enqueue("woocommerce.order", {"v": 2}, ordering_key="order:wc:7", priority=LIVE)
    [first] = queue.claim("w", limit=1)
    assert first.id == head and first.priority == LIVE  # raised: the live one waits on it
    assert all(t.id != live for t in queue.claim("w", limit=5))  # never before its head
    queue.complete(first, "w")
    [then] = queue.claim("w", limit=1)
    assert then.id == live


def test_tasks_enqueued_inside_a_priority_block_take_its_priority(queue):
    with queue.at_priority(BULK):
        inside = queue.enqueue("k", {})
        explicit = queue.enqueue("k", {"n": 1}, priority=LIVE)
    outside = queue.enqueue("k", {"n": 2})
    assert [queue.get(i)["priority"] for i in (inside, explicit, outside)] == [BULK, LIVE, POLL]


def test_an_unknown_priority_is_refused_naming_the_allowed_ones(queue):
    with pytest.raises(ValueError, match=r"priority 7: one of \[0, 1, 2\]"):
        queue.enqueue("k", {}, priority=7)


def test_what_a_live_task_enqueues_is_live_too(services):
    def fan_out(ctx, payload):
        ctx.services.queue.enqueue("push.bitrix24.deal", {"order": payload["order"]})

    services.registry.register("test.fan_out", fan_out)
    services.queue.enqueue("test.fan_out", {"order": 1}, priority=LIVE)
    services.queue.enqueue("test.fan_out", {"order": 2}, priority=BULK)
    Worker(services).run_until_idle()
    pushes = [services.queue.get(i) for i in range(1, 5)]
    by_order = {
        r["payload"]["order"]: r["priority"] for r in pushes if r["kind"].startswith("push")
    }
    assert by_order == {1: LIVE, 2: BULK}


def test_a_stored_webhook_queues_a_live_task(any_store_services):
    inbound = Inbound(
        "woocommerce", "d1", "order.updated", b'{"id": 1}', {}, TaskSpec("woocommerce.order", {})
    )
    with any_store_services.engine.begin() as connection:
        record_group(any_store_services.queue, connection, [inbound])
    [task] = any_store_services.queue.claim("w", limit=5)
    assert (task.priority, task.lane) == (LIVE, "woocommerce")


def test_tasks_queued_before_the_upgrade_get_their_lane_and_a_poll_priority(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from connector.store import _alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        for kind in ("push.bitrix24.deal", "woocommerce.order", "sync.poll", "push"):
            connection.execute(
                text(
                    "INSERT INTO tasks (kind, payload, state, run_at, enqueued_at, attempts)"
                    " VALUES (:kind, '{}', 'queued', 0, 0, 0)"
                ),
                {"kind": kind},
            )
        command.upgrade(config, "0006")
        rows = connection.execute(text("SELECT lane, priority FROM tasks ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("bitrix24", POLL),
        ("woocommerce", POLL),
        ("sync", POLL),
        ("push", POLL),
    ]
