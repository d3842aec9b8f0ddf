"""Bitrix24 error answers: the ``error``/``error_description`` body and its HTTP status.

Codes, texts and statuses come from specs/bitrix24/errors/ and the system-errors table
(https://apidocs.bitrix24.com/error-codes.html). Legacy ``crm.*`` methods send an empty ``error``
code.
"""

from __future__ import annotations


class ApiError(Exception):
    """A refusal the emulator answers exactly as the portal would."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


def query_limit_exceeded() -> ApiError:
    return ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)


def operation_time_limit() -> ApiError:
    return ApiError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit", 429)


def no_auth_found() -> ApiError:
    return ApiError("NO_AUTH_FOUND", "Wrong authorization data", 401)


def expired_token() -> ApiError:
    return ApiError("expired_token", "The access token provided has expired", 401)


def invalid_token() -> ApiError:
    return ApiError("invalid_token", "Unable to get application by token", 401)


def insufficient_scope() -> ApiError:
    return ApiError(
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
        403,
    )


def wrong_auth_type() -> ApiError:
    return ApiError("WRONG_AUTH_TYPE", "Current authorization type is denied for this method", 403)


def method_not_found() -> ApiError:
    return ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def legacy(description: str) -> ApiError:
    """Legacy crm.contact.* / crm.deal.* refusals: empty code, meaning only in the text."""
    return ApiError("", description, 400)


def not_found_item() -> ApiError:
    return ApiError("NOT_FOUND", "Element not found", 400)


def invalid_arg(description: str) -> ApiError:
    return ApiError("INVALID_ARG_VALUE", description, 400)
