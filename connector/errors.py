"""Typed errors: the queue decides to retry or dead-letter by type, never by parsing messages."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class ConfigError(ConnectorError):
    """A setting is missing or has a value we cannot use; names the variable."""


class TransientError(ConnectorError):
    """A blip (connection reset, 5xx, time-out): the same call may succeed later."""


class RateLimited(TransientError):
    """The remote asked us to slow down; `wait` is how many seconds it asked for."""

    def __init__(self, message: str = "rate limited", wait: float = 1.0) -> None:
        super().__init__(message)
        self.wait = wait


class Wait(RateLimited):
    """Not a failure: the task cannot run yet and will be run again after `wait` seconds without
    counting an attempt. The worker logs it at INFO, and the queue records no error row for it
    (a dead letter's history lists failures, not waits); the message says what it waits for."""


class MappingsUnusable(Wait):
    """The mapping files are invalid and the set in force cannot serve this task (there is no
    good set at all, or it lacks what the task needs): the task waits for the admin's fix.

    Not the task's fault, so, like a rate limit, the queue runs it again after `wait` seconds
    without counting a failed attempt: it never turns into a dead letter for this reason.
    `problems` are the mapping files' errors.
    """

    def __init__(self, message: str, wait: float, problems: list[MappingError] | None = None):
        super().__init__(message, wait)
        self.problems = list(problems or [])


class AuthError(ConnectorError):
    """Credentials are missing, wrong or expired and could not be refreshed.

    Retried by the queue (an admin may fix the credentials), but never inside a call.
    """


class PermanentError(ConnectorError):
    """The remote refused the request for good (validation, not found, compliance)."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        prefix = f"[{self.code}] " if self.code else ""
        return f"{prefix}{super().__str__()}"


class MappingError(PermanentError):
    """A mapping file is invalid, or a value cannot be mapped; names file, line and field."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, code="mapping")
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.field}: " if self.field and self.field not in self.args[0] else ""
        return f"{where}{field}{self.args[0]}"


class UnknownTaskKind(PermanentError):
    """A task names a kind no handler is registered for."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown task kind {kind!r}", code="unknown_kind")
        self.kind = kind


class NotReady(Wait):
    """Not a failure: the task needs what another task is still writing (a deal needs its
    contact first). The queue runs it again after `wait` seconds without counting an attempt,
    and the worker logs it at INFO as "waiting for ..."; the message says what it waits for."""
