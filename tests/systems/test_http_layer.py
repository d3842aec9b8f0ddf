"""The shared HTTP layer: limiters hold the pace, retries re-send only what is safe."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import responses

from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import (
    ConcurrencyLimit,
    JsonClient,
    LeakyBucket,
    RequestNotSent,
    RetryPolicy,
    Timeouts,
    chunks,
    error_for_status,
    json_body,
    make_session,
    none_if_not_found,
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


# --------------------------------------------------------------------------- shared client pieces


def response(status: int, content: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = content
    return answer


def test_json_body_gives_the_default_for_anything_not_json():
    assert json_body(response(200, b'{"a": [1]}')) == {"a": [1]}
    assert json_body(response(200, b"null"), default={}) is None
    assert json_body(response(502, b"<html>Bad gateway</html>")) is None
    assert json_body(response(502, b"<html>"), default={"error": "HTTP 502"}) == {
        "error": "HTTP 502"
    }
    assert json_body(response(200, b""), default=[]) == []


def test_not_found_becomes_none_and_every_other_error_goes_on():
    def failing(error: Exception):
        def call() -> Any:
            raise error

        return call

    assert none_if_not_found(lambda: {"id": 1}) == {"id": 1}
    assert none_if_not_found(failing(PermanentError("gone", status=404))) is None
    with pytest.raises(PermanentError):
        none_if_not_found(failing(PermanentError("bad", code="x", status=400)))
    with pytest.raises(TransientError):
        none_if_not_found(failing(TransientError("502")))


def test_chunks_cut_at_the_size_and_keep_the_order():
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 100)) == []


def test_timeouts_from_settings_read_the_http_timeout():
    assert Timeouts.from_settings(SimpleNamespace(http_timeout=12.5)) == Timeouts(read=12.5)
    assert Timeouts.from_settings(SimpleNamespace(http_timeout=None)).read == 30
    assert Timeouts.from_settings(SimpleNamespace()).as_tuple() == (10.0, 30.0)


class Plain(JsonClient):
    """The smallest client: JSON in, `error_for_status` out."""

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        answer = self._send(method, url, json=body, params=params)
        if answer.ok:
            return json_body(answer), answer.headers
        raise error_for_status(answer.status_code, f"HTTP {answer.status_code}")


API = "https://api.example/v1"


def plain() -> Plain:
    return Plain(API, session=make_session(), retry=policy()[0], timeouts=Timeouts())


@responses.activate
def test_json_client_joins_the_path_and_retries_reads():
    responses.get(API + "/items", status=502)
    responses.get(API + "/items", json=[1, 2], headers={"X-Total": "2"})
    body, headers = plain().request_full("get", "items", params={"page": 1})
    assert body == [1, 2] and headers["X-Total"] == "2"
    assert len(responses.calls) == 2
    assert responses.calls[0].request.url == API + "/items?page=1"


@responses.activate
def test_json_client_does_not_resend_a_post_unless_told_it_is_safe():
    responses.post(API + "/orders", status=502)
    responses.post(API + "/orders", status=503)
    responses.post(API + "/orders", json={"id": 7})
    with pytest.raises(TransientError):
        plain().request("POST", "/orders", json={"n": 1})
    assert len(responses.calls) == 1
    assert plain().request("POST", "/orders", json={"n": 1}, idempotent=True) == {"id": 7}
    assert len(responses.calls) == 3
