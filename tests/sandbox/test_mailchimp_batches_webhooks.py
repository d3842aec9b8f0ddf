"""Mailchimp batches run later and leave a results archive; audience webhooks arrive as shown."""

from __future__ import annotations

import io
import json
import tarfile
import time
from datetime import datetime
from urllib.parse import parse_qsl

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from connector_sandbox.mailchimp import create_app
from connector_sandbox.sink import WebhookSink
from tests.sandbox.conftest import MC_AUTH, spec_json, spec_text

LIST = "a6b5da1054"


def test_a_batch_goes_pending_started_finished_and_leaves_a_tar_gz() -> None:
    config = {"batch_delay": 0.05, "batch_operation_delay": 0.05}
    mc = create_app(config).test_client()
    operations = [
        {
            "method": "PUT",
            "path": "/lists/sandbox-list/members/" + "0" * 32,
            "operation_id": "good",
            "body": json.dumps({"email_address": "b@example.com", "status_if_new": "subscribed"}),
        },
        {
            "method": "POST",
            "path": "/lists/sandbox-list/members",
            "operation_id": "bad",
            "body": json.dumps({"email_address": "b@example.com", "status": "subscribed"}),
        },
    ]
    submitted = mc.post("/3.0/batches", json={"operations": operations}, headers=MC_AUTH)
    batch = submitted.get_json()
    assert submitted.status_code == 200 and batch["status"] == "pending"
    assert batch["total_operations"] == 2
    seen = {batch["status"]}
    deadline = time.monotonic() + 10
    while batch["status"] != "finished" and time.monotonic() < deadline:
        batch = mc.get(f"/3.0/batches/{batch['id']}", headers=MC_AUTH).get_json()
        seen.add(batch["status"])
        time.sleep(0.002)
    assert batch["status"] == "finished" and seen == {"pending", "started", "finished"}
    assert batch["finished_operations"] == 2 and batch["errored_operations"] == 1
    path = batch["response_body_url"].split("://", 1)[1].split("/", 1)[1]
    archive = mc.get("/" + path)
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        assert len(members) == 1 and members[0].name.endswith(".json")
        results = json.load(tar.extractfile(members[0]))  # type: ignore[arg-type]
    assert [r["operation_id"] for r in results] == ["good", "bad"]
    assert [r["status_code"] for r in results] == [200, 400]
    assert json.loads(results[0]["response"])["email_address"] == "b@example.com"
    assert json.loads(results[1]["response"])["title"] == "Member Exists"


def test_a_batch_passes_through_the_same_validation(mc: FlaskClient) -> None:
    operation = {"method": "PUT", "path": "/lists/sandbox-list/members/x", "body": "{}"}
    batch = mc.post("/3.0/batches", json={"operations": [operation]}, headers=MC_AUTH).get_json()
    assert mc.post("/_sandbox/batches/wait").status_code == 200
    done = mc.get(f"/3.0/batches/{batch['id']}", headers=MC_AUTH).get_json()
    assert done["errored_operations"] == 1


def register(mc: FlaskClient, sink: WebhookSink, list_id: str = "sandbox-list", **extra) -> dict:
    body = spec_json("mailchimp/webhooks/create-webhook.request.json")
    body["url"] = sink.url + "/hooks/mailchimp"
    body["events"] = {
        e: True for e in ("subscribe", "unsubscribe", "profile", "upemail", "cleaned")
    }
    body.update(extra)
    response = mc.post(f"/3.0/lists/{list_id}/webhooks", json=body, headers=MC_AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_registration_checks_the_url_with_a_get_like_mailchimp(
    mc: FlaskClient, webhook_sink: WebhookSink
) -> None:
    hook = register(mc, webhook_sink)
    check = webhook_sink.received[0]
    assert (
        check.method == "GET" and check.headers["User-Agent"] == "MailChimp.com WebHook Validator"
    )
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    listed = mc.get("/3.0/lists/sandbox-list/webhooks", headers=MC_AUTH).get_json()
    assert [h["id"] for h in listed["webhooks"]] == [hook["id"]]
    webhook_sink.status = 404
    body = {"url": webhook_sink.url + "/broken"}
    refused = mc.post("/3.0/lists/sandbox-list/webhooks", json=body, headers=MC_AUTH)
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "url"
    deleted = mc.delete(f"/3.0/lists/sandbox-list/webhooks/{hook['id']}", headers=MC_AUTH)
    assert deleted.status_code == 204


@pytest.fixture
def documented_list(mailchimp_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An audience shaped like the docs' examples: id a6b5da1054, only FNAME and LNAME."""
    state = mailchimp_app.extensions["mailchimp"]
    state.create_list({"name": "Docs"}, list_id=LIST)
    state.merge_fields[LIST] = [
        f for f in state.merge_fields[LIST] if f["tag"] in ("FNAME", "LNAME")
    ]
    return mailchimp_app


def seed(app: Flask, email: str, unique_id: str, status: str = "subscribed") -> None:
    state = app.extensions["mailchimp"]
    body = {
        "email_address": email,
        "status_if_new": status,
        "merge_fields": {"FNAME": "MailChimp", "LNAME": "API"},
        "interests": {"Group1": True, "Group2": True},
        "ip_opt": "10.20.10.30",
        "ip_signup": "10.20.10.30",
    }
    member = state.put_member(LIST, email, body, source="sandbox-seed")
    member["unique_email_id"] = unique_id


def fired_at(monkeypatch: pytest.MonkeyPatch, form_file: str) -> None:
    stamp = dict(parse_qsl(spec_text(form_file)))["fired_at"]
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    monkeypatch.setattr("connector_sandbox.mailchimp.app.utcnow", lambda: moment)


@pytest.mark.parametrize(
    ("event", "email", "unique_id", "action", "body"),
    [
        ("subscribe", "api@mailchimp.com", "8a25ff1d98", "subscribe", {}),
        ("unsubscribe", "api+unsub@mailchimp.com", "8a25ff1d98", "unsubscribe",
         {"reason": "manual", "campaign_id": "cb398d21d2"}),
        ("profile", "api@mailchimp.com", "8a25ff1d98", "profile", {"merge_fields": {}}),
        ("upemail", "api+old@mailchimp.com", "51da8c3259", "email",
         {"new_email": "api+new@mailchimp.com"}),
        ("cleaned", "api+cleaned@mailchimp.com", "x", "clean",
         {"reason": "hard", "campaign_id": "4fjk2ma9xd"}),
    ],
)  # fmt: skip
def test_acting_as_a_subscriber_sends_the_documented_form_body(
    documented_list: Flask,
    webhook_sink: WebhookSink,
    monkeypatch: pytest.MonkeyPatch,
    event: str,
    email: str,
    unique_id: str,
    action: str,
    body: dict,
) -> None:
    mc = documented_list.test_client()
    register(mc, webhook_sink, list_id=LIST)
    seed(
        documented_list,
        email,
        unique_id,
        status="pending" if event == "subscribe" else "subscribed",
    )
    form_file = f"mailchimp/webhooks/{event}.form.txt"
    fired_at(monkeypatch, form_file)
    answer = mc.post(f"/_sandbox/lists/{LIST}/members/{email}/{action}", json=body)
    assert answer.status_code == 200, answer.get_json()
    delivered = webhook_sink.wait_for(1, "/hooks/mailchimp")
    assert len(delivered) == 1
    assert delivered[0].text() == spec_text(form_file)
    assert delivered[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_api_changes_reach_only_webhooks_that_ask_for_the_api_source(
    mc: FlaskClient, webhook_sink: WebhookSink
) -> None:
    register(mc, webhook_sink)
    key = "/3.0/lists/sandbox-list/members/api@example.com"
    body = {"email_address": "api@example.com", "status_if_new": "subscribed"}
    mc.put(key, json=body, headers=MC_AUTH)
    mc.post("/_sandbox/deliveries/wait")
    assert webhook_sink.posts() == []
    hook_id = mc.get("/3.0/lists/sandbox-list/webhooks", headers=MC_AUTH).get_json()["webhooks"][0]
    patch = {"sources": {"api": True}}
    mc.patch(f"/3.0/lists/sandbox-list/webhooks/{hook_id['id']}", json=patch, headers=MC_AUTH)
    mc.patch(key, json={"status": "unsubscribed"}, headers=MC_AUTH)
    delivered = webhook_sink.wait_for(1)
    pairs = dict(parse_qsl(delivered[0].text()))
    assert pairs["type"] == "unsubscribe" and pairs["data[email]"] == "api@example.com"


def test_batches_and_webhooks_through_a_real_server(fresh_sandbox, webhook_sink) -> None:
    base = fresh_sandbox.urls["mailchimp"]
    auth = ("x", fresh_sandbox.settings_env()["CONNECTOR_MAILCHIMP_API_KEY"])
    operation = {"method": "GET", "path": "/lists/sandbox-list", "operation_id": "one"}
    batch = requests.post(
        f"{base}/3.0/batches", json={"operations": [operation]}, auth=auth, timeout=5
    )
    batch_id = batch.json()["id"]
    assert requests.post(f"{base}/_sandbox/batches/wait", timeout=10).status_code == 200
    done = requests.get(f"{base}/3.0/batches/{batch_id}", auth=auth, timeout=5).json()
    assert done["response_body_url"].startswith(base + "/_storage/")
    archive = requests.get(done["response_body_url"], timeout=5)
    assert (
        archive.headers["Content-Type"] == "application/x-gzip"
        and archive.content[:2] == b"\x1f\x8b"
    )
