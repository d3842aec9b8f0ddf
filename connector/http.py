"""Shared HTTP layer: one pooled session, time-outs, retry policies, rate limiters and typed errors.

Every system client sends through here, so the queue sees one error vocabulary
(`connector.errors`) whatever system failed, and every client obeys the same retry rules:

* `tenacity` retries inside a call only for seconds-long blips; longer waits surface as
  `RateLimited(wait)` so the durable queue can park the task instead of holding a worker.
* A write that may have reached the server (read time-out, 5xx) is never re-sent blindly:
  only requests that surely did not run (`RequestNotSent`, `RateLimited`) are retried for
  non-idempotent calls (after the Bitrix24 Go SDK's rule "retry did it run?", see
  research/bitrix24.md section 7).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter

from connector.config import Settings
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)

USER_AGENT = "omnichannel-connector/0.1 (+https://github.com/omnichannel-connector)"
T = TypeVar("T")


class RequestNotSent(TransientError):
    """The connection failed before the request reached the server: safe to re-send any call."""


# --------------------------------------------------------------------------- session


@dataclass(frozen=True)
class Timeouts:
    """Connect and read time-outs in seconds; `requests` takes them as a tuple."""

    connect: float = 10.0
    read: float = 30.0

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        """The read time-out every client takes from `CONNECTOR_HTTP_TIMEOUT` (30 s when unset)."""
        return cls(read=float(getattr(settings, "http_timeout", 30) or 30))


def make_session(*, pool_size: int = 10, user_agent: str = USER_AGENT) -> requests.Session:
    """A `requests.Session` with a connection pool sized for the client's concurrency.

    urllib3's own retries are off: retrying is `RetryPolicy`'s job, where it can tell a
    safe retry from a duplicate write.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    return session


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Sends one request and turns transport failures into typed errors.

    A failure to connect means nothing was sent (`RequestNotSent`); a read time-out or a
    dropped connection after sending is ambiguous (`TransientError`): the server may have run it.
    """
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.ConnectTimeout as error:
        raise RequestNotSent(f"connect time-out: {_host(url)}") from error
    except requests.exceptions.ConnectionError as error:
        if _failed_before_sending(error):
            raise RequestNotSent(f"cannot connect: {_host(url)}") from error
        raise TransientError(f"connection lost: {_host(url)}") from error
    except requests.exceptions.Timeout as error:
        raise TransientError(f"read time-out, the request may have run: {_host(url)}") from error
    except requests.exceptions.RequestException as error:
        raise TransientError(f"{type(error).__name__}: {_host(url)}") from error


def _failed_before_sending(error: requests.exceptions.ConnectionError) -> bool:
    reason = error.args[0] if error.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)


def _host(url: str) -> str:
    """The scheme and host only: paths can hold secrets (webhook codes, URL tokens)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def json_body(response: requests.Response, default: Any = None) -> Any:
    """The decoded JSON body, or `default` when it is not JSON (an HTML error page, no body).

    Clients decide what a missing body means; this only spares each one the same `try`.
    """
    try:
        return response.json()
    except ValueError:
        return default


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def error_for_status(
    status: int,
    message: str,
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> ConnectorError:
    """The default classification of an HTTP failure; clients refine it by the remote code."""
    if status == 429:
        return RateLimited(message, wait=retry_after if retry_after is not None else 1.0)
    if status in (401, 403):
        return AuthError(f"{status} {code or ''} {message}".strip())
    if status in (408, 425) or status >= 500:
        if retry_after is not None:
            return RateLimited(message, wait=retry_after)
        return TransientError(f"{status} {message}")
    return PermanentError(message, code=code, status=status)


def none_if_not_found(call: Callable[[], T]) -> T | None:
    """`call()`, or None when the remote answers 404: looking up or deleting what is not there.

    Any other error, a `PermanentError` of another status included, goes on to the caller.
    """
    try:
        return call()
    except PermanentError as error:
        if error.status == 404:
            return None
        raise


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in parts of at most `size`: what one call of a batch or bulk endpoint takes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call keeps trying before the error goes to the queue.

    `attempts` counts sends; `max_wait` is the longest single pause we accept inside a call
    (a longer `RateLimited.wait` is raised at once, for the queue to schedule).
    """

    attempts: int = 5
    max_wait: float = 60.0
    backoff: float = 0.5
    backoff_cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def run(self, call: Callable[[], T], *, idempotent: bool = True) -> T:
        """Runs `call`, retrying what is safe to retry for a call of that kind."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda error: self.should_retry(error, idempotent)),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(call)

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        if isinstance(error, RateLimited):
            return error.wait <= self.max_wait
        if isinstance(error, RequestNotSent):
            return True
        return idempotent and isinstance(error, TransientError)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return error.wait
        exponential = self.backoff * 2 ** (state.attempt_number - 1)
        return min(self.backoff_cap, exponential) * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


# --------------------------------------------------------------------------- REST clients


class Transport(TypedDict, total=False):
    """How a client reaches its system: the keywords every `JsonClient` takes (a test's
    session, a policy with no retries, shorter time-outs)."""

    session: requests.Session | None
    retry: RetryPolicy
    timeouts: Timeouts


def require(**settings: str | None) -> None:
    """Raises `ConfigError` naming every one of these settings that has no value."""
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required"
        )


class JsonClient:
    """Base of the REST clients that call `base_url + path` (CDEK, Mailchimp, WooCommerce).

    It holds the rule they share: the method name picks the retry mode (POST is a write that
    is not re-sent after an ambiguous failure, the others are idempotent) unless the caller
    says otherwise. Each client's `_exchange` keeps what differs: authentication, how an
    answer is decoded and how the system's error body maps to a typed error.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or make_session()
        self.retry = retry
        self.timeouts = timeouts

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Sends one request; returns the decoded body or raises a typed error."""
        return self.request_full(method, path, json=json, params=params, idempotent=idempotent)[0]

    def request_full(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """The decoded body and the response headers (paging headers such as `X-WP-TotalPages`)."""
        method = method.upper()
        url = self.base_url + "/" + path.lstrip("/")
        safe = method != "POST" if idempotent is None else idempotent
        return self.retry.run(lambda: self._exchange(method, url, json, params), idempotent=safe)

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        """One attempt: send, decode, raise the system's typed error. Each client has its own."""
        raise NotImplementedError

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """`send` on this client's session with its time-outs."""
        return send(self.session, method, url, timeout=self.timeouts.as_tuple(), **kwargs)

    def close(self) -> None:
        self.session.close()


# --------------------------------------------------------------------------- limiters


class LeakyBucket:
    """Client-side twin of a server's leaky bucket: `burst` requests at once, then `rate`/s.

    Matches Bitrix24's limiter (research/bitrix24.md section 2.1: each request adds 1 to a
    counter that drains `rate` per second; over `burst` the request is refused), so a client
    that passes through here never provokes the refusal. Slots are reserved under a lock and
    slept outside it, so concurrent threads queue up instead of all seeing "no wait" and
    bursting together.

    The level lives in this object, so it limits one process. Where the bucket's level is kept
    is one step, `_update`: `connector.store.buckets.StoredBucket` keeps it in the store, so
    that every process talking to one portal draws from the same bucket.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Takes the next slot; returns how long the caller must wait before using it."""
        return self._update(lambda level: level + 1.0)

    def acquire(self) -> float:
        """Blocks until a request may go out; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def refused(self, wait: float | None = None) -> float:
        """The server refused anyway (another client shares the portal): stop for `wait` seconds.

        Fills the bucket so every waiting thread backs off; returns the pause for the caller.
        """
        wait = 1.0 / self.rate if wait is None else wait
        return self._update(lambda level: max(level, self.burst + wait * self.rate))

    def drained(self, level: float, updated: float, now: float) -> float:
        """The level a bucket at `level` when last `updated` has drained to by `now`."""
        return max(0.0, level - (now - updated) * self.rate)

    def wait_at(self, level: float) -> float:
        """The wait a level means: how far it stands over the burst, in seconds of draining."""
        return max(0.0, (level - self.burst) / self.rate)

    def _update(self, change: Callable[[float], float]) -> float:
        """Drains the level to now, applies `change` to it, and returns the wait the new level
        means (`wait_at`)."""
        with self._lock:
            now = self._clock()
            self._level = change(self.drained(self._level, self._updated, now))
            self._updated = now
            return self.wait_at(self._level)


class ConcurrencyLimit:
    """At most `limit` requests in flight at once (Mailchimp counts connections, not rates)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._semaphore:
            yield
