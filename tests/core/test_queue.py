"""The durable queue: each guarantee of issue 2 told as a small story."""

from __future__ import annotations

import random

import pytest

from connector.errors import NotReady, PermanentError, RateLimited, TransientError
from connector.queue import Queue, RetryPolicy


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
    return Queue(
        any_store_services.engine,
        RetryPolicy(max_attempts=3, backoff_base=10, backoff_max=60, lease_seconds=30),
        clock=clock,
    )


def test_second_enqueue_with_the_same_dedupe_key_is_a_no_op(queue):
    first = queue.enqueue("diagnostic.noop", {"n": 1}, dedupe_key="order:7:v3")
    second = queue.enqueue("diagnostic.noop", {"n": 2}, dedupe_key="order:7:v3")
    assert first is not None and second is None
    claimed = queue.claim("w1", limit=10)
    assert [t.payload for t in claimed] == [{"n": 1}]


def test_tasks_of_one_ordering_key_run_one_at_a_time_in_enqueue_order(queue):
    ids = [queue.enqueue("k", {"step": i}, ordering_key="order:woocommerce:42") for i in range(3)]
    other = queue.enqueue("k", {"step": "other"}, ordering_key="order:woocommerce:43")
    first_round = queue.claim("w1", limit=10)
    assert [t.id for t in first_round] == [ids[0], other]
    assert queue.claim("w2", limit=10) == []  # ids[1] waits while ids[0] runs
    queue.complete(first_round[0], "w1")
    assert [t.id for t in queue.claim("w2", limit=10)] == [ids[1]]


def test_a_retrying_task_holds_back_the_later_tasks_of_its_key(queue, clock):
    first = queue.enqueue("k", {}, ordering_key="deal:1")
    second = queue.enqueue("k", {}, ordering_key="deal:1")
    [task] = queue.claim("w", limit=5)
    assert queue.fail(task, "w", TransientError("503")) == "queued"
    assert queue.claim("w", limit=5) == []
    clock.now += 60
    assert [t.id for t in queue.claim("w", limit=5)] == [first]
    assert second is not None


def test_backoff_doubles_each_attempt_with_jitter_and_a_ceiling():
    policy = RetryPolicy(backoff_base=10, backoff_max=60)
    assert policy.delay(1, rng=lambda: 0.0) == 5 and policy.delay(1, rng=lambda: 1.0) == 10
    assert policy.delay(2, rng=lambda: 1.0) == 20 and policy.delay(3, rng=lambda: 1.0) == 40
    assert policy.delay(10, rng=lambda: 1.0) == 60
    rng = random.Random(7)
    delays = {round(policy.delay(2, rng=rng.random), 3) for _ in range(50)}
    assert len(delays) > 40 and all(10 <= d <= 20 for d in delays)


def test_failed_task_runs_again_after_its_backoff(queue, clock):
    queue.enqueue("k", {})
    [task] = queue.claim("w")
    queue.fail(task, "w", TransientError("connection reset"))
    row = queue.get(task.id)
    assert row["state"] == "queued" and 5 <= row["run_at"] - clock.now <= 10
    assert queue.claim("w") == []
    clock.now += 10
    [again] = queue.claim("w")
    assert again.attempts == 2


def test_transient_errors_retry_and_permanent_errors_go_straight_to_dead_letters(queue):
    queue.enqueue("k", {"which": "transient"})
    queue.enqueue("k", {"which": "permanent"})
    transient, permanent = queue.claim("w", limit=2)
    assert queue.fail(transient, "w", TransientError("timeout")) == "queued"
    assert queue.fail(permanent, "w", PermanentError("invalid email", code="invalid")) == "dead"
    assert [d["id"] for d in queue.dead_letters()] == [permanent.id]


def test_rate_limited_waits_as_asked_without_using_an_attempt(queue, clock):
    queue.enqueue("k", {})
    [task] = queue.claim("w")
    queue.fail(task, "w", RateLimited(wait=42))
    row = queue.get(task.id)
    assert row["run_at"] == clock.now + 42 and row["attempts"] == 0


def test_after_max_attempts_a_dead_letter_keeps_payload_errors_and_times(queue, clock):
    queue.enqueue("k", {"order": 9})
    for attempt in range(1, 4):
        [task] = queue.claim("w")
        assert task.attempts == attempt
        queue.fail(task, "w", TransientError(f"blip {attempt}"))
        clock.now += 120
    [dead] = queue.dead_letters()
    assert dead["payload"] == {"order": 9} and dead["attempts"] == 3
    errors = queue.errors(dead["id"])
    assert [e["message"] for e in errors] == ["blip 1", "blip 2", "blip 3"]
    assert all(e["started_at"] and e["failed_at"] >= e["started_at"] for e in errors)


def test_replay_runs_a_dead_letter_again_and_discard_ends_it(queue):
    queue.enqueue("k", {"a": 1})
    queue.enqueue("k", {"a": 2})
    for task in queue.claim("w", limit=2):
        queue.fail(task, "w", PermanentError("no"))
    first, second = (d["id"] for d in queue.dead_letters())
    assert queue.replay(first) == 1
    assert queue.replay(first) == 0  # no longer dead
    [again] = queue.claim("w")
    assert again.id == first and again.attempts == 1
    assert queue.discard(second) and not queue.discard(second)
    assert queue.dead_letters() == []


def test_an_expired_lease_makes_the_task_claimable_again(queue, clock):
    queue.enqueue("k", {}, ordering_key="order:1")
    [task] = queue.claim("w1")
    assert queue.claim("w2") == []
    clock.now += 31
    [again] = queue.claim("w2")
    assert again.id == task.id and again.attempts == 2
    queue.complete(task, "w1")  # the dead worker's late completion is ignored
    assert queue.get(task.id)["state"] == "running"
    queue.complete(again, "w2")
    assert queue.get(task.id)["state"] == "done"


def test_a_renewed_lease_keeps_a_long_task_from_being_claimed_again(queue, clock):
    """The worker's heartbeat renews the leases of what it holds, so a task may run for far
    longer than the lease; once the renewals stop (the worker died) the lease runs out."""
    running, prefetched = queue.enqueue("k", {"n": 1}), queue.enqueue("k", {"n": 2})
    queue.claim("w1", limit=2)
    for _ in range(10):  # 200 s: more than six leases
        clock.now += 20
        assert queue.renew("w1", [running, prefetched]) == [running, prefetched]
        assert queue.claim("w2", limit=2) == []
    clock.now += 31
    assert [t.id for t in queue.claim("w2", limit=2)] == [running, prefetched]


def test_a_heartbeat_never_takes_back_a_task_another_worker_claimed(queue, clock):
    task_id = queue.enqueue("k", {})
    queue.claim("w1")
    clock.now += 31  # w1 stalled past its lease
    [again] = queue.claim("w2")
    assert queue.renew("w1", [task_id]) == []  # w1's late heartbeat renews nothing
    assert queue.get(task_id)["locked_by"] == "w2"
    clock.now += 20
    assert queue.renew("w2", [task_id]) == [task_id]
    assert queue.get(task_id)["lease_until"] == clock.now + 30


def test_a_heartbeat_renews_only_running_tasks(queue, clock):
    failed, released = queue.enqueue("k", {"n": 1}), queue.enqueue("k", {"n": 2})
    first, second = queue.claim("w1", limit=2)
    queue.fail(first, "w1", TransientError("timeout"))
    queue.release([second], "w1")
    assert queue.renew("w1", [failed, released]) == []
    assert queue.get(failed)["lease_until"] is None and queue.get(released)["lease_until"] is None


def test_release_gives_tasks_back_without_counting_an_attempt(queue):
    queue.enqueue("k", {})
    claimed = queue.claim("w")
    queue.release(claimed, "w")
    [again] = queue.claim("w")
    assert again.attempts == 1


def test_stats_count_states_and_the_oldest_waiting_task(queue, clock):
    queue.enqueue("k", {})
    clock.now += 5
    queue.enqueue("k", {})
    stats = queue.stats()
    assert stats.queued == 2 and stats.oldest_queued_age == 5


def test_purge_removes_old_finished_tasks_and_frees_their_dedupe_keys(queue, clock):
    queue.enqueue("k", {}, dedupe_key="x")
    [task] = queue.claim("w")
    queue.complete(task, "w")
    clock.now += 100
    assert queue.purge_done(older_than_seconds=50) == 1
    assert queue.enqueue("k", {}, dedupe_key="x") is not None


def test_a_task_enqueued_while_its_keys_head_finishes_is_never_left_waiting(queue):
    """The race READ COMMITTED allows on PostgreSQL: the head finishes while a transaction is
    enqueueing the next task of its key as waiting. The finisher must wait its turn and then
    promote it (SQLite's one writer at a time gives the same)."""
    import threading
    import time

    head = queue.enqueue("diagnostic.noop", {"n": 1}, ordering_key="order:9")
    [claimed] = queue.claim("w1")
    assert claimed.id == head
    with queue.engine.begin() as connection:
        [behind] = queue.enqueue_many(
            "diagnostic.noop", [({"n": 2}, None, "order:9")], None, connection
        )
        finisher = threading.Thread(target=queue.complete_many, args=([claimed], "w1"))
        finisher.start()
        time.sleep(0.3)  # without turns, the head would finish now and promote nothing
    finisher.join(timeout=30)
    assert queue.get(head)["state"] == "done"
    assert queue.get(behind)["state"] == "queued"


def test_a_task_waiting_for_a_record_is_woken_by_its_maker_and_no_other_task_is(queue, clock):
    deal = queue.enqueue("push.deal", {"id": "o1"}, ordering_key="deal:o1")
    other_deal = queue.enqueue("push.deal", {"id": "o2"}, ordering_key="deal:o2")
    other_kind = queue.enqueue("push.rows", {"id": "o1"}, ordering_key="rows:o1")
    claimed = {t.id: t for t in queue.claim("w", limit=5)}
    for task in claimed.values():
        assert queue.fail(task, "w", NotReady("waiting for the contact", wait=60)) == "queued"
    assert queue.claim("w", limit=5) == []  # all wait the full minute

    with queue.engine.begin() as connection:  # the contact push links the contact
        woken = queue.wake(connection, "push.deal", ["deal:o1", "rows:o1", "deal:o9"])

    assert woken == 1
    [again] = queue.claim("w", limit=5)
    assert again.id == deal and again.attempts == 1  # a wait is no failed attempt
    queue.complete(again, "w")
    clock.now += 61
    assert sorted(t.id for t in queue.claim("w", limit=5)) == sorted([other_deal, other_kind])


def test_a_woken_task_that_waits_its_turn_is_due_as_soon_as_its_turn_comes(queue, clock):
    ahead = queue.enqueue("push.deal", {"id": "o1"}, ordering_key="deal:o1")
    behind = queue.enqueue(
        "push.deal", {"id": "o1"}, ordering_key="deal:o1", run_at=clock.now + 60
    )  # enqueued to wait for the contact
    assert queue.get(behind)["state"] == "waiting"

    with queue.engine.begin() as connection:  # the contact push links the contact
        assert queue.wake(connection, "push.deal", ["deal:o1"]) == 1

    [head] = queue.claim("w", limit=5)
    assert head.id == ahead
    queue.complete(head, "w")
    [woken] = queue.claim("w", limit=5)  # no minute's wait left once its turn comes
    assert woken.id == behind


def test_pending_sees_a_queued_or_running_task_of_its_kind_and_key_only(queue):
    assert not queue.pending("push.contact", "contact:c1")
    queue.enqueue("push.contact", {"id": "c1"}, ordering_key="contact:c1")
    assert queue.pending("push.contact", "contact:c1")
    assert not queue.pending("push.balance", "contact:c1")
    [task] = queue.claim("w", limit=1)
    assert queue.pending("push.contact", "contact:c1")  # running
    queue.complete(task, "w")
    assert not queue.pending("push.contact", "contact:c1")
