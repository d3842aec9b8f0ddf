"""The shared HTTP layer: limiters hold the pace, retries re-send only what is safe."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import requests

from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import (
    ConcurrencyLimit,
    LeakyBucket,
    RequestNotSent,
    RetryPolicy,
    error_for_status,
    make_session,
    parse_retry_after,
    send,
)


def test_bucket_lets_a_burst_through_then_keeps_the_drain_rate(clock):
    bucket = LeakyBucket(rate=2, burst=3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(0.5)
    assert waits[4] == pytest.approx(0.5)
    assert clock.now - 1000.0 == pytest.approx(1.0)


def test_bucket_refills_while_idle(clock):
    bucket = LeakyBucket(rate=2, burst=2, clock=clock, sleep=clock.sleep)
    bucket.acquire(), bucket.acquire()
    clock.now += 10
    assert bucket.acquire() == 0


def test_bucket_reserves_slots_for_concurrent_callers(clock):
    bucket = LeakyBucket(rate=10, burst=1, clock=clock, sleep=lambda s: None)
    waits = sorted(bucket.reserve() for _ in range(4))
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_refusal_makes_every_caller_back_off(clock):
    bucket = LeakyBucket(rate=2, burst=5, clock=clock, sleep=clock.sleep)
    assert bucket.refused(1.0) == pytest.approx(1.0)
    assert bucket.reserve() == pytest.approx(1.5)


def test_concurrency_limit_caps_requests_in_flight():
    limit = ConcurrencyLimit(2)
    inside, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def work() -> None:
        with limit.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait(timeout=0.2)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


class Flaky:
    def __init__(self, *errors: Exception, result: str = "done") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def policy(**kwargs) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    return RetryPolicy(sleep=slept.append, **kwargs), slept


def test_idempotent_call_is_retried_through_blips():
    retry, _ = policy()
    call = Flaky(TransientError("502"), TransientError("reset"))
    assert retry.run(call) == "done"
    assert call.calls == 3


def test_write_is_not_resent_after_an_ambiguous_failure():
    retry, _ = policy()
    call = Flaky(TransientError("read time-out"))
    with pytest.raises(TransientError):
        retry.run(call, idempotent=False)
    assert call.calls == 1


def test_write_is_resent_when_it_surely_was_not_sent_or_was_refused():
    retry, slept = policy()
    call = Flaky(RequestNotSent("refused"), RateLimited("slow down", wait=2.5))
    assert retry.run(call, idempotent=False) == "done"
    assert call.calls == 3
    assert slept[1] == 2.5


def test_long_rate_limit_goes_to_the_queue_at_once():
    retry, slept = policy(max_wait=30)
    call = Flaky(RateLimited("blocked", wait=600))
    with pytest.raises(RateLimited) as raised:
        retry.run(call)
    assert raised.value.wait == 600 and call.calls == 1 and slept == []


def test_permanent_errors_are_never_retried():
    retry, _ = policy()
    call = Flaky(PermanentError("bad", code="x", status=400), AuthError("no"))
    with pytest.raises(PermanentError):
        retry.run(call)
    assert call.calls == 1


def test_attempts_are_bounded():
    retry, _ = policy(attempts=3)
    call = Flaky(*[TransientError("down")] * 5)
    with pytest.raises(TransientError):
        retry.run(call)
    assert call.calls == 3


def test_connection_refused_is_request_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = make_session()
    with pytest.raises(RequestNotSent):
        send(session, "GET", f"http://127.0.0.1:{port}/x", timeout=(1, 1))


def test_read_timeout_is_ambiguous_transient():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        port = server.getsockname()[1]
        with pytest.raises(TransientError) as raised:
            send(make_session(), "GET", f"http://127.0.0.1:{port}/secret", timeout=(1, 0.2))
        assert not isinstance(raised.value, RequestNotSent)
        assert "secret" not in str(raised.value)
    finally:
        server.close()


def test_retry_after_in_seconds_and_dates():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after(date, now=lambda: 1445412470.0) == pytest.approx(10)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (401, AuthError),
        (403, AuthError),
        (500, TransientError),
        (503, TransientError),
        (400, PermanentError),
        (404, PermanentError),
    ],
)
def test_status_classification(status, kind):
    assert isinstance(error_for_status(status, "x"), kind)


def test_session_does_not_retry_on_its_own():
    adapter = make_session().get_adapter("https://example.com")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter.max_retries.total == 0
