"""Mailchimp `/batches` for bulk imports: submit, poll to the end, read every operation's result.

A batch never fails as a whole: each operation's answer sits in a gzipped tar of JSON files at
`response_body_url` (valid 10 minutes; re-read the batch for a fresh one), each file an array of
`{"status_code", "operation_id", "response"}` with `response` a JSON string. Operations are not
run in order, and `body` must itself be a JSON *string* (research/mailchimp.md 5).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connector.errors import ConnectorError, PermanentError, TransientError
from connector.http import send
from connector.systems.mailchimp.client import NOT_RETRIED_TITLES, MailchimpClient, MailchimpError

DONE = "finished"


@dataclass(frozen=True)
class Operation:
    """One request inside a batch; `operation_id` is how its result finds its way back."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    operation_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method.upper(), "path": self.path}
        if self.body is not None:
            out["body"] = json.dumps(self.body)
        if self.params:
            out["params"] = dict(self.params)
        if self.operation_id:
            out["operation_id"] = self.operation_id
        return out


@dataclass
class OperationResult:
    """What one operation answered; `error` is typed like a direct call's error."""

    operation_id: str | None
    status: int
    response: Any
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_batch(
    client: MailchimpClient,
    operations: Iterable[Operation],
    *,
    poll_every: float = 2.0,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[OperationResult]:
    """Submits the operations, waits for the batch to finish and returns one result each."""
    body = {"operations": [operation.as_json() for operation in operations]}
    if not body["operations"]:
        return []
    batch = client.request("POST", "/batches", json=body)
    deadline = clock() + timeout
    while batch.get("status") != DONE:
        if clock() > deadline:
            raise TransientError(f"Mailchimp batch {batch.get('id')} still {batch.get('status')}")
        sleep(poll_every)
        batch = client.request("GET", f"/batches/{batch['id']}")
    if not batch.get("response_body_url"):
        return []
    return parse_results(download(client, batch["response_body_url"]))


def download(client: MailchimpClient, url: str) -> bytes:
    """The results archive (a pre-signed URL: sent without our credentials)."""
    with requests.Session() as plain:
        response = send(plain, "GET", url, timeout=client.timeouts.as_tuple())
    if not response.ok:
        raise TransientError(f"Mailchimp batch results: HTTP {response.status_code}")
    return response.content


def parse_results(archive: bytes) -> list[OperationResult]:
    """Every operation result in a results tar.gz."""
    results = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            handle = tar.extractfile(member)
            rows = json.load(handle) if handle else []
            for row in rows if isinstance(rows, list) else []:
                results.append(_result(row))
    return results


def _result(row: Mapping[str, Any]) -> OperationResult:
    status = int(row.get("status_code") or 0)
    raw = row.get("response")
    try:
        response = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        response = raw
    error = None if 200 <= status < 300 else _error(status, response)
    return OperationResult(row.get("operation_id"), status, response, error)


def _error(status: int, problem: Any) -> ConnectorError:
    problem = problem if isinstance(problem, dict) else {}
    title = str(problem.get("title") or f"HTTP {status}")
    detail = str(problem.get("detail") or "")
    message = f"{title}: {detail}" if detail else title
    if title in NOT_RETRIED_TITLES or 400 <= status < 500 and status != 429:
        return MailchimpError(message, code=title, status=status, errors=problem.get("errors"))
    if status == 429 or status >= 500:
        return TransientError(message)
    return PermanentError(message, code=title, status=status)
