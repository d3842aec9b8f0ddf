"""Mailchimp error answers: ``application/problem+json`` with type, title, status, detail and
instance.

Titles and texts come from specs/mailchimp/errors/ (see the README there for sources);
clients should match on ``status`` and ``title`` only, as Mailchimp advises.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
SCHEMA_DETAIL = (
    "The resource submitted could not be validated. "
    "For field-specific details, see the 'errors' array."
)


class Problem(Exception):
    """A refusal answered exactly as Mailchimp answers it."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERROR_TYPE,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": str(uuid.uuid4()),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        body = self.body()
        response = Response(json.dumps(body), status=self.status, content_type=PROBLEM_JSON)
        response.headers["X-Request-Id"] = body["instance"]
        response.headers["Link"] = (
            '<https://api.mailchimp.com/schema/3.0/ProblemDetailDocument.json>; rel="describedBy"'
        )
        for key, value in self.headers.items():
            response.headers[key] = value
        return response


def problem_body(status: int) -> tuple[str, bytes]:
    """The body of an injected fault, shaped like Mailchimp's own 5xx answers."""
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    title = titles.get(status, "Error")
    detail = (
        "An unexpected internal error has occurred. Please contact Support for more information."
    )
    return PROBLEM_JSON, json.dumps(Problem(status, title, detail).body()).encode()


def not_found() -> Problem:
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")


def method_not_allowed(allowed: list[str]) -> Problem:
    return Problem(
        405,
        "Method Not Allowed",
        "The requested method and resource are not compatible. See the Allow header for this "
        "resource's available methods.",
        headers={"Allow": ", ".join(allowed)},
    )


def invalid_resource(detail: str = SCHEMA_DETAIL, errors: list[dict[str, str]] | None = None):
    return Problem(400, "Invalid Resource", detail, errors if errors is not None else [])


def merge_fields_invalid(errors: list[dict[str, str]]) -> Problem:
    return Problem(400, "Invalid Resource", "Your merge fields were invalid.", errors)


def member_exists(email: str) -> Problem:
    return Problem(
        400,
        "Member Exists",
        f"{email} is already a list member. Use PUT to insert or update list members.",
    )


def compliance_state(email: str) -> Problem:
    return Problem(
        400,
        "Member In Compliance State",
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and "
        "cannot be subscribed.",
    )


def forgotten_email(email: str) -> Problem:
    return Problem(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe "
        "to get back on the list.",
    )


def invalid_email() -> Problem:
    return Problem(400, "Invalid Resource", "Please provide a valid email address.")


def customer_not_saved(email: str) -> Problem:
    return Problem(
        400,
        "Customer Was Not Saved",
        f"{email} is an invalid email address and cannot be imported.",
    )


def json_parse() -> Problem:
    return Problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.")


def api_key_missing() -> Problem:
    return Problem(401, "API Key Missing", "Your request did not include an API key.")


def api_key_invalid() -> Problem:
    return Problem(
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )


def too_many_requests(limit: int) -> Problem:
    return Problem(
        429,
        "Too Many Requests",
        f"You have exceeded the limit of {limit} simultaneous connections.",
    )
