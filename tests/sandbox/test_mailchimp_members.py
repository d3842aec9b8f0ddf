"""Mailchimp audience members answer as the docs and the recorded errors show."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from connector_sandbox.mailchimp import create_app
from connector_sandbox.mailchimp.openapi import RequestValidator
from connector_sandbox.runner import Sandbox
from tests.sandbox.conftest import MC_AUTH, basic, spec_json

MEMBERS = "/3.0/lists/sandbox-list/members"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def put(mc: FlaskClient, email: str, **body: object):
    payload = {"email_address": email, "status_if_new": "subscribed"} | body
    return mc.put(f"{MEMBERS}/{md5(email)}", json=payload, headers=MC_AUTH)


def assert_problem(response, spec_file: str) -> dict:
    expected = spec_json(f"mailchimp/errors/{spec_file}")
    assert response.status_code == expected["status"]
    assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    body = response.get_json()
    assert body["title"] == expected["title"]
    assert set(body) >= PROBLEM_KEYS
    return body


def test_put_upserts_by_subscriber_hash_and_get_accepts_the_email(mc: FlaskClient) -> None:
    created = put(mc, "Jane.Doe@Example.com", merge_fields={"FNAME": "Jane"})
    assert created.status_code == 200
    member = created.get_json()
    assert member["id"] == md5("jane.doe@example.com")
    assert member["status"] == "subscribed" and member["full_name"] == "Jane"
    assert (
        mc.get(f"{MEMBERS}/jane.doe@example.com", headers=MC_AUTH).get_json()["id"] == member["id"]
    )
    updated = put(
        mc, "jane.doe@example.com", status_if_new="pending", merge_fields={"LNAME": "Doe"}
    )
    assert updated.get_json()["status"] == "subscribed"  # status_if_new only for new members
    assert updated.get_json()["merge_fields"]["FNAME"] == "Jane"


def test_post_of_an_existing_member_is_member_exists(mc: FlaskClient) -> None:
    put(mc, "test1@test.cz")
    again = mc.post(
        MEMBERS, json={"email_address": "test1@test.cz", "status": "subscribed"}, headers=MC_AUTH
    )
    body = assert_problem(again, "member-exists.400.json")
    assert body["detail"] == spec_json("mailchimp/errors/member-exists.400.json")["detail"]


def test_resubscribing_an_unsubscribed_member_by_status_is_a_compliance_state(
    mc: FlaskClient,
) -> None:
    put(mc, "gone@example.com")
    mc.patch(
        f"{MEMBERS}/{md5('gone@example.com')}", json={"status": "unsubscribed"}, headers=MC_AUTH
    )
    refused = put(mc, "gone@example.com", status="subscribed")
    assert_problem(refused, "member-in-compliance-state.400.json")
    kept = put(mc, "gone@example.com")  # status_if_new alone leaves the status alone
    assert kept.status_code == 200 and kept.get_json()["status"] == "unsubscribed"
    pending = put(mc, "gone@example.com", status="pending")
    assert pending.get_json()["status"] == "pending"


def test_delete_archives_and_a_later_put_brings_the_member_back(mc: FlaskClient) -> None:
    put(mc, "arch@example.com")
    assert mc.delete(f"{MEMBERS}/{md5('arch@example.com')}", headers=MC_AUTH).status_code == 204
    got = mc.get(f"{MEMBERS}/{md5('arch@example.com')}", headers=MC_AUTH).get_json()
    assert got["status"] == "archived"
    assert mc.get(MEMBERS, headers=MC_AUTH).get_json()["total_items"] == 0
    archived = mc.get(f"{MEMBERS}?status=archived", headers=MC_AUTH).get_json()
    assert archived["total_items"] == 1
    assert put(mc, "arch@example.com").get_json()["status"] == "subscribed"


def test_permanent_delete_forgets_the_address_for_good(mc: FlaskClient) -> None:
    put(mc, "jane.doe@example.com")
    forget = mc.post(
        f"{MEMBERS}/{md5('jane.doe@example.com')}/actions/delete-permanent", headers=MC_AUTH
    )
    assert forget.status_code == 204 and forget.data == b""
    assert_problem(
        mc.get(f"{MEMBERS}/{md5('jane.doe@example.com')}", headers=MC_AUTH),
        "resource-not-found.404.json",
    )
    body = assert_problem(
        put(mc, "jane.doe@example.com"), "forgotten-email-not-subscribed.400.json"
    )
    assert (
        body["detail"]
        == spec_json("mailchimp/errors/forgotten-email-not-subscribed.400.json")["detail"]
    )


def test_required_and_malformed_merge_fields_are_invalid_resource(mc: FlaskClient) -> None:
    field = {"name": "Radio", "tag": "RADIO", "type": "radio", "required": True}
    field["options"] = {"choices": ["a", "b"]}
    assert (
        mc.post("/3.0/lists/sandbox-list/merge-fields", json=field, headers=MC_AUTH).status_code
        == 200
    )
    missing = assert_problem(
        put(mc, "x@example.com"), "invalid-resource-required-merge-field.400.json"
    )
    assert (
        missing["errors"]
        == spec_json("mailchimp/errors/invalid-resource-required-merge-field.400.json")["errors"]
    )
    address = put(mc, "x@example.com", merge_fields={"RADIO": "a", "ADDRESS": {"addr1": "1 Road"}})
    body = assert_problem(address, "invalid-resource-address.400.json")
    assert body["errors"] == [{"field": "ADDRESS", "message": "Please enter a complete address"}]
    skipped = mc.put(
        f"{MEMBERS}/{md5('x@example.com')}?skip_merge_validation=true",
        json={"email_address": "x@example.com", "status_if_new": "subscribed"},
        headers=MC_AUTH,
    )
    assert skipped.status_code == 200


def test_merge_fields_are_listed_and_created(mc: FlaskClient) -> None:
    listed = mc.get("/3.0/lists/sandbox-list/merge-fields", headers=MC_AUTH).get_json()
    assert [f["tag"] for f in listed["merge_fields"]] == ["FNAME", "LNAME", "ADDRESS", "PHONE"]
    made = mc.post(
        "/3.0/lists/sandbox-list/merge-fields",
        json={"name": "Birthday", "tag": "BIRTHDAY", "type": "birthday"},
        headers=MC_AUTH,
    ).get_json()
    assert made["tag"] == "BIRTHDAY" and made["merge_id"] > 4
    bad = put(mc, "b@example.com", merge_fields={"BIRTHDAY": "1990-05-01"})
    assert bad.status_code == 400
    assert put(mc, "b@example.com", merge_fields={"BIRTHDAY": "05/01"}).status_code == 200


def test_tags_and_events_answer_204_without_a_body(mc: FlaskClient) -> None:
    put(mc, "t@example.com")
    base = f"{MEMBERS}/{md5('t@example.com')}"
    tags = {"tags": [{"name": "VIP", "status": "active"}, {"name": "Old", "status": "active"}]}
    answer = mc.post(f"{base}/tags", json=tags, headers=MC_AUTH)
    assert answer.status_code == 204 and answer.data == b""
    mc.post(f"{base}/tags", json={"tags": [{"name": "Old", "status": "inactive"}]}, headers=MC_AUTH)
    names = [t["name"] for t in mc.get(f"{base}/tags", headers=MC_AUTH).get_json()["tags"]]
    assert names == ["VIP"]
    event = {"name": "order_shipped", "properties": {"carrier": "cdek"}}
    assert mc.post(f"{base}/events", json=event, headers=MC_AUTH).status_code == 204
    events = mc.get(f"{base}/events", headers=MC_AUTH).get_json()["events"]
    assert events[0]["name"] == "order_shipped" and events[0]["properties"] == {"carrier": "cdek"}


def test_bodies_are_validated_against_the_official_openapi_file(mc: FlaskClient) -> None:
    response = mc.put(
        f"{MEMBERS}/{md5('v@example.com')}",
        json={"email_address": "v@example.com", "status": "gold"},
        headers=MC_AUTH,
    )
    body = assert_problem(response, "invalid-resource-schema.400.json")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"status_if_new", "status"}
    wrong_type = mc.post(
        "/3.0/lists/sandbox-list/members/" + md5("v@example.com") + "/tags",
        json={"tags": "VIP"},
        headers=MC_AUTH,
    )
    assert wrong_type.status_code == 400
    assert wrong_type.get_json()["errors"][0]["message"].startswith("Schema describes array")


def test_broken_json_is_a_parse_exception(mc: FlaskClient) -> None:
    response = mc.post(MEMBERS, data="{nope", headers=MC_AUTH, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["title"] == "JSON Parse Exception"


def test_validation_is_skipped_when_the_spec_is_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    validator = RequestValidator(None)
    validator._path = None
    import connector_sandbox.mailchimp.openapi as openapi

    original = openapi.DEFAULT_PATHS
    openapi.DEFAULT_PATHS = (tmp_path / "absent.json",)
    try:
        with caplog.at_level("WARNING"):
            assert validator.errors("PUT", "/lists/x/members/y", {"status": "gold"}) == []
        assert "not found" in caplog.text and not validator.available
    finally:
        openapi.DEFAULT_PATHS = original


def test_unknown_routes_methods_and_keys(mc: FlaskClient) -> None:
    assert_problem(mc.get("/3.0/lists/nope", headers=MC_AUTH), "resource-not-found.404.json")
    refused = mc.delete("/3.0/lists", headers=MC_AUTH)
    assert_problem(refused, "method-not-allowed.405.json")
    assert "GET" in refused.headers["Allow"]
    missing = mc.get("/3.0/lists")
    assert missing.status_code == 401 and missing.get_json()["title"] == "API Key Missing"
    wrong = mc.get("/3.0/lists", headers=basic("x", "0" * 32 + "-us1"))
    assert wrong.status_code == 401 and wrong.get_json()["title"] == "API Key Invalid"
    bearer = mc.get("/3.0/ping", headers={"Authorization": f"Bearer {MC_AUTH_KEY}"})
    assert bearer.status_code == 200


MC_AUTH_KEY = "0123456789abcdef0123456789abcdef-us1"


def test_more_than_ten_requests_at_once_answer_429() -> None:
    with Sandbox(names=("mailchimp",), config={"mailchimp": {"response_delay": 1.0}}) as sandbox:
        url = sandbox.urls["mailchimp"] + "/3.0/ping"
        codes: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(14)

        def call() -> None:
            start.wait()
            status = requests.get(url, auth=("x", MC_AUTH_KEY), timeout=10).status_code
            with lock:
                codes.append(status)

        threads = [threading.Thread(target=call) for _ in range(14)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes.count(200) == 10
        assert codes.count(429) == 4
        later = requests.get(url, auth=("x", MC_AUTH_KEY), timeout=10)
        assert later.status_code == 200  # slots are released when requests end


def test_member_list_pages_and_filters(mc: FlaskClient) -> None:
    for number in range(5):
        put(mc, f"m{number}@example.com")
    page = mc.get(f"{MEMBERS}?count=2&offset=2", headers=MC_AUTH).get_json()
    assert page["total_items"] == 5 and len(page["members"]) == 2
    only = mc.get(f"{MEMBERS}?fields=members.email_address,total_items", headers=MC_AUTH)
    assert only.get_json()["members"][0] == {"email_address": "m0@example.com"}
    assert set(only.get_json()) == {"members", "total_items"}


def test_audience_and_store_exist_from_the_start() -> None:
    mc = create_app().test_client()
    lists = mc.get("/3.0/lists", headers=MC_AUTH).get_json()["lists"]
    assert [a["id"] for a in lists] == ["sandbox-list"]
    store = mc.get("/3.0/ecommerce/stores/sandbox-store", headers=MC_AUTH).get_json()
    assert store["list_id"] == "sandbox-list"
