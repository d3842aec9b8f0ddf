"""Bitrix24 error codes to the connector's typed errors, decided by code and never by message.

Table and retry advice: research/bitrix24.md section 7 (docs `_includes/system-errors.md`;
Go SDK: "decide by the error code, never by the HTTP status"; codes come in mixed case).
"""

from __future__ import annotations

import re
from typing import Any

from connector.errors import AuthError, ConnectorError, PermanentError, RateLimited, TransientError

QUERY_LIMIT_EXCEEDED = "query_limit_exceeded"
OPERATION_TIME_LIMIT = "operation_time_limit"
EXPIRED_TOKEN = {"expired_token", "invalid_token"}

_AUTH = {
    "no_auth_found",
    "access_denied",
    "insufficient_scope",
    "invalid_credentials",
    "user_access_error",
    "authorization_error",
    "wrong_auth_type",
    "invalid_grant",
    "invalid_client",
    "payment_required",
}
_TRANSIENT = {"internal_server_error", "error_unexpected_answer", "error_timeout"}
_TAGS = re.compile(r"<[^>]+>")


class TokenExpired(AuthError):
    """`expired_token`: refresh the OAuth token and repeat the same call."""


class QueryLimitExceeded(RateLimited):
    """`503 QUERY_LIMIT_EXCEEDED`: the portal's leaky bucket is full; refused before running."""


class OperatingLimit(RateLimited):
    """`429 OPERATION_TIME_LIMIT`: this method spent its run-time budget; others still work."""


def error_from_payload(status: int | None, payload: Any, *, method: str = "") -> ConnectorError:
    """Classifies one error body `{"error", "error_description"}` (or one batch `result_error`)."""
    code = str(payload.get("error") or "") if isinstance(payload, dict) else ""
    text = payload.get("error_description", "") if isinstance(payload, dict) else str(payload)
    text = _TAGS.sub(" ", str(text or "")).strip()
    message = f"{method}: {text or code or 'error'}" if method else (text or code or "error")
    key = code.lower()
    if key == QUERY_LIMIT_EXCEEDED:
        return QueryLimitExceeded(message, wait=1.0)
    if key == OPERATION_TIME_LIMIT:
        return OperatingLimit(message, wait=60.0)
    if key in EXPIRED_TOKEN:
        return TokenExpired(message)
    if key in _AUTH or (not key and status in (401, 403)):
        return AuthError(f"[{code}] {message}" if code else message)
    if key == "overload_limit":
        # A manual block that only Bitrix24 support lifts: retrying only deepens it.
        return PermanentError(message, code=code, status=status)
    if key in _TRANSIENT or (status is not None and status >= 500 and key != "portal_deleted"):
        return TransientError(f"{status} [{code}] {message}")
    return PermanentError(message, code=code or None, status=status)
