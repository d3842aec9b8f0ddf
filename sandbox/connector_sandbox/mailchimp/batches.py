"""Batch operations: POST /batches runs the operations later, then offers a .tar.gz of the results.

As on Mailchimp (research/mailchimp.md; fern ``api-concepts/batch-operations.mdx``) a batch is
answered at once with ``status: pending``, moves to ``started`` and then ``finished``;
``response_body_url`` points at a gzip'd tar holding one JSON file with an array of ``{status_code,
operation_id, response}`` where ``response`` is the operation's answer as a JSON string. Each
operation goes through the same routes as a direct call (same validation and errors) but is never
faulted nor counted against the connection limit.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from werkzeug.test import Client

from connector_sandbox.common import base_url
from connector_sandbox.mailchimp.state import MailchimpState, short_id, timestamp

INTERNAL = "sandbox.internal"


class BatchRunner:
    """Runs submitted batches in background threads after a short, configurable delay."""

    def __init__(
        self, app: Flask, state: MailchimpState, delay: float, operation_delay: float = 0.0
    ) -> None:
        self.app, self.state, self.delay = app, state, delay
        self.operation_delay = operation_delay

    def submit(self, operations: list[dict[str, Any]], authorization: str) -> dict[str, Any]:
        batch_id = short_id()
        batch = {
            "id": batch_id,
            "status": "pending",
            "total_operations": len(operations),
            "finished_operations": 0,
            "errored_operations": 0,
            "submitted_at": timestamp(),
            "completed_at": "",
            "response_body_url": "",
        }
        root = base_url(self.app)
        with self.state.lock:
            self.state.batches[batch_id] = batch
        worker = threading.Thread(
            target=self._run,
            args=(batch_id, operations, authorization, root),
            name=f"mailchimp-batch-{batch_id}",
            daemon=True,
        )
        worker.start()
        return dict(batch)

    def wait(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.state.lock:
                if all(b["status"] == "finished" for b in self.state.batches.values()):
                    return True
            time.sleep(0.01)
        return False

    def _run(
        self, batch_id: str, operations: list[dict[str, Any]], authorization: str, root: str
    ) -> None:
        time.sleep(self.delay)
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return
        with self.state.lock:
            batch["status"] = "started"
        faults = self.app.extensions.get("sandbox_faults")
        client = Client(faults.inner if faults is not None else self.app.wsgi_app)
        results = []
        for operation in operations:
            result = self._call(client, operation, authorization)
            results.append(result)
            with self.state.lock:
                batch["finished_operations"] += 1
                if result["status_code"] >= 400:
                    batch["errored_operations"] += 1
            time.sleep(self.operation_delay)
        archive = _archive(batch_id, results)
        with self.state.lock:
            self.state.batch_results[batch_id] = archive
            batch["status"] = "finished"
            batch["completed_at"] = timestamp()
            batch["response_body_url"] = f"{root}/_storage/batches/{batch_id}-response.tar.gz"

    @staticmethod
    def _call(client: Client, operation: dict[str, Any], authorization: str) -> dict[str, Any]:
        path = "/3.0/" + str(operation.get("path", "")).lstrip("/")
        params = operation.get("params") or {}
        if params:
            path += "?" + urlencode(params)
        body = operation.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        response = client.open(
            path,
            method=str(operation.get("method", "GET")).upper(),
            data=body,
            headers={"Authorization": authorization, "Content-Type": "application/json"},
            environ_overrides={INTERNAL: True},
        )
        return {
            "status_code": response.status_code,
            "operation_id": operation.get("operation_id"),
            "response": response.get_data(as_text=True) or "",
        }


def _archive(batch_id: str, results: list[dict[str, Any]]) -> bytes:
    data = json.dumps(results).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name=f"{batch_id}.json")
        info.size = len(data)
        info.mtime = int(time.time())
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
