"""Mailchimp client: upserts, typed errors, batches, setup, and every request body checked
against the official OpenAPI file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import responses

from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import RetryPolicy
from connector.systems.mailchimp import (
    MailchimpClient,
    MailchimpError,
    MergeField,
    Operation,
    base_url_from_key,
    subscriber_hash,
)
from connector.systems.mailchimp.batch import parse_results
from connector.systems.mailchimp.setup import merge_fields_from_mappings, setup_mailchimp
from tests.support import SPECS

KEY = "0123456789abcdef0123456789abcdef-us6"
API = "https://us6.api.mailchimp.com/3.0"
RESULTS_URL = "https://mailchimp-batch.s3.example/results.tar.gz"
ANY = re.compile(r"https://us6\.api\.mailchimp\.com/3\.0/.*")


def make_client() -> MailchimpClient:
    return MailchimpClient(KEY, retry=RetryPolicy(sleep=lambda s: None))


def problem(spec, name: str) -> dict:
    return spec(f"mailchimp/errors/{name}")


def test_data_centre_and_hash():
    assert base_url_from_key(KEY) == API
    assert subscriber_hash(" Ann@Example.COM ") == subscriber_hash("ann@example.com")
    assert subscriber_hash("ann@example.com") == hashlib.md5(b"ann@example.com").hexdigest()


@responses.activate
def test_upsert_member_puts_by_hash_with_status_if_new():
    url = f"{API}/lists/L1/members/{subscriber_hash('ann@example.com')}"
    responses.put(url, json={"id": "x", "status": "transactional"})
    make_client().upsert_member("L1", "Ann@Example.com", {"FNAME": "Ann"}, "transactional")
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {
        "email_address": "Ann@Example.com",
        "status_if_new": "transactional",
        "merge_fields": {"FNAME": "Ann"},
    }
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_member_exists_on_post_becomes_an_update(spec):
    responses.post(
        f"{API}/lists/L1/members", status=400, json=problem(spec, "member-exists.400.json")
    )
    responses.put(re.compile(f"{API}/lists/L1/members/.*"), json={"id": "x"})
    assert make_client().add_member("L1", "test1@test.cz") == {"id": "x"}
    assert [c.request.method for c in responses.calls] == ["POST", "PUT"]


@pytest.mark.parametrize(
    "name",
    [
        "member-in-compliance-state.400.json",
        "forgotten-email-not-subscribed.400.json",
        "invalid-resource-required-merge-field.400.json",
    ],
)
@responses.activate
def test_refusals_that_must_not_be_retried_are_permanent(spec, name):
    responses.put(re.compile(f"{API}/lists/.*"), status=400, json=problem(spec, name))
    with pytest.raises(MailchimpError) as raised:
        make_client().upsert_member("L1", "a@b.example", status="subscribed")
    assert raised.value.code == problem(spec, name)["title"]
    assert len(responses.calls) == 1


@responses.activate
def test_invalid_resource_carries_the_field_errors(spec):
    body = problem(spec, "invalid-resource-required-merge-field.400.json")
    responses.put(re.compile(f"{API}/lists/.*"), status=400, json=body)
    with pytest.raises(MailchimpError) as raised:
        make_client().upsert_member("L1", "a@b.example")
    assert raised.value.errors == body.get("errors", [])


@responses.activate
def test_too_many_connections_waits_and_retries():
    url = re.compile(f"{API}/lists/.*")
    responses.put(url, status=429, json={"title": "Too Many Requests", "status": 429})
    responses.put(url, json={"id": "x"})
    assert make_client().upsert_member("L1", "a@b.example") == {"id": "x"}


@responses.activate
def test_gateway_timeout_html_is_transient_and_auth_is_auth():
    responses.get(f"{API}/ping", status=502, body="<html>", content_type="text/html")
    with pytest.raises(TransientError):
        MailchimpClient(KEY, retry=RetryPolicy(attempts=1)).ping()
    responses.get(f"{API}/lists/L1/merge-fields", status=401, json={"title": "API Key Invalid"})
    with pytest.raises(AuthError):
        make_client().merge_fields("L1")


@responses.activate
def test_429_without_retry_after_is_rate_limited():
    responses.get(f"{API}/ping", status=429, json={"title": "Too Many Requests"})
    with pytest.raises(RateLimited):
        MailchimpClient(KEY, retry=RetryPolicy(attempts=1)).ping()


@responses.activate
def test_products_are_patched_with_their_variants_or_posted_whole():
    products = f"{API}/ecommerce/stores/S/products"
    variant = {"id": "v1", "title": "Tea 100 g", "price": 5}
    responses.patch(products + "/p1", json={"id": "p1"})
    responses.put(products + "/p1/variants/v1", json=variant)
    responses.patch(products + "/p2", status=404, json={"title": "Resource Not Found"})
    responses.post(products, json={"id": "p2"})
    client = make_client()

    assert client.upsert_product("S", {"id": "p1", "title": "Tea", "variants": [variant]}) == {
        "id": "p1"
    }
    assert json.loads(responses.calls[0].request.body) == {"title": "Tea"}
    assert json.loads(responses.calls[1].request.body) == variant

    new = {"id": "p2", "title": "Coffee", "variants": [{**variant, "id": "v2"}]}
    assert client.upsert_product("S", new) == {"id": "p2"}
    assert [call.request.method for call in responses.calls[2:]] == ["PATCH", "POST"]
    assert json.loads(responses.calls[3].request.body) == new


@responses.activate
def test_delete_cart_ignores_a_missing_cart(spec):
    url = f"{API}/ecommerce/stores/S/carts/c1"
    responses.delete(url, status=404, json=problem(spec, "resource-not-found.404.json"))
    make_client().delete_cart("S", "c1")
    responses.delete(url, status=405, json=problem(spec, "method-not-allowed.405.json"))
    with pytest.raises(PermanentError):
        make_client().delete_cart("S", "c1")


def results_archive(rows_by_file: dict[str, list[dict]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, rows in rows_by_file.items():
            data = json.dumps(rows).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@responses.activate
def test_batch_is_polled_to_the_end_and_each_result_parsed(spec):
    responses.post(f"{API}/batches", json={"id": "b1", "status": "pending"})
    responses.get(f"{API}/batches/b1", json={"id": "b1", "status": "started"})
    responses.get(
        f"{API}/batches/b1",
        json={"id": "b1", "status": "finished", "response_body_url": RESULTS_URL},
    )
    compliance = json.dumps(problem(spec, "member-in-compliance-state.400.json"))
    archive = results_archive(
        {
            "b1/a.json": [{"status_code": 200, "operation_id": "m1", "response": '{"id": "1"}'}],
            "b1/b.json": [{"status_code": 400, "operation_id": "m2", "response": compliance}],
        }
    )
    responses.get(RESULTS_URL, body=archive, content_type="application/gzip")
    operations = [
        Operation(
            "PUT", "/lists/L1/members/x", {"email_address": "a@x.example"}, operation_id="m1"
        ),
        Operation(
            "PUT", "/lists/L1/members/y", {"email_address": "b@x.example"}, operation_id="m2"
        ),
    ]
    results = make_client().run_batch(operations, sleep=lambda s: None)
    by_id = {r.operation_id: r for r in results}
    assert by_id["m1"].ok and by_id["m1"].response == {"id": "1"}
    assert isinstance(by_id["m2"].error, MailchimpError)
    assert by_id["m2"].error.code == "Member In Compliance State"
    sent = json.loads(responses.calls[0].request.body)["operations"][0]
    assert isinstance(sent["body"], str)  # Mailchimp wants the body as a JSON string
    assert "Authorization" not in responses.calls[-1].request.headers


def test_results_with_non_json_and_server_errors():
    archive = results_archive(
        {"x.json": [{"status_code": 500, "operation_id": "a", "response": "oops"}]}
    )
    (result,) = parse_results(archive)
    assert isinstance(result.error, TransientError)


def test_merge_fields_come_from_the_mapping_files(tmp_path):
    folder = tmp_path / "mailchimp"
    folder.mkdir()
    (folder / "customer.yaml").write_text(
        "merge_fields:\n  - {tag: BIRTHDAY, type: birthday}\n"
        "fields:\n  - {to: merge_fields.FNAME, from: first_name}\n"
        "  - {to: merge_fields.PHONE, from: phone}\n"
        "  - {to: email_address, from: email}\n"
    )
    tags = {field.tag: field.type for field in merge_fields_from_mappings(tmp_path)}
    assert tags == {"BIRTHDAY": "birthday", "FNAME": "text", "PHONE": "text"}


# --------------------------------------------------------------------------- OpenAPI walk


def openapi_file() -> Path | None:
    configured = os.environ.get("CONNECTOR_MAILCHIMP_OPENAPI")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    path = SPECS / "mailchimp" / "marketing-api.json"
    return path if path.is_file() else None


class FakeMailchimp:
    """Answers like Mailchimp for the walk: missing store and carts, existing products."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []

    def __call__(self, request):
        path = urlsplit(request.url).path.removeprefix("/3.0")
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path, body))
        not_found = (404, {}, json.dumps({"title": "Resource Not Found", "status": 404}))
        if request.method == "GET" and re.fullmatch(r"/ecommerce/stores/[^/]+", path):
            return not_found
        if request.method == "PATCH" and re.search(r"/(carts|orders|products/new-)", path):
            return not_found
        if request.method == "POST" and path.endswith("/members"):
            return 400, {}, json.dumps({"title": "Member Exists", "status": 400})
        if path == "/batches":
            return 200, {}, json.dumps({"id": "b", "status": "finished"})
        if path.endswith("/merge-fields") and request.method == "GET":
            return 200, {}, json.dumps({"merge_fields": [{"tag": "FNAME"}]})
        if path.endswith("/webhooks") and request.method == "GET":
            return 200, {}, json.dumps({"webhooks": []})
        if path.endswith(("/tags", "/events")):
            return 204, {}, ""
        return 200, {}, json.dumps({"id": "ok", "list_id": "L1"})


def walk_client_operations(client: MailchimpClient) -> None:
    """Every operation the connector sends, with realistic bodies."""
    customer = {"id": "c1", "email_address": "ann@example.com", "opt_in_status": False}
    line = {"id": "l1", "product_id": "p1", "product_variant_id": "p1", "quantity": 1, "price": 5}
    client.upsert_member("L1", "ann@example.com", {"FNAME": "Ann"}, "transactional")
    client.upsert_member("L1", "ann@example.com", status="pending", status_if_new="pending")
    client.add_member("L1", "bob@example.com", {"FNAME": "Bob"})
    client.change_member_email("L1", "bob@example.com", "robert@example.com")
    client.update_member_tags("L1", "ann@example.com", ["VIP"], ["LAPSED"])
    client.add_member_event("L1", "ann@example.com", "order_delivered", {"order": 7, "sum": 9.5})
    client.ensure_store("S", "L1", "Shop", "USD")
    client.set_store_syncing("S", False)
    client.upsert_customer("S", customer)
    product = {"id": "p1", "title": "Tea", "variants": [{"id": "p1", "title": "Tea", "price": 5}]}
    client.upsert_product("S", product)
    client.upsert_product("S", {**product, "id": "new-p2"})
    client.get_member("L1", "ann@example.com")
    client.archive_member("L1", "gone@example.com")
    client.delete_cart("S", "k0")
    client.ping()
    cart = {
        "id": "k1",
        "customer": {"id": "c1"},
        "currency_code": "USD",
        "order_total": 5,
        "checkout_url": "https://shop.example/cart",
        "lines": [line],
    }
    client.upsert_cart("S", cart)
    order = {
        "id": "o1",
        "customer": {"id": "c1"},
        "currency_code": "USD",
        "order_total": 5,
        "financial_status": "paid",
        "processed_at_foreign": "2026-01-01T10:00:00+00:00",
        "lines": [line],
    }
    client.upsert_order("S", order)
    client.ensure_merge_fields("L1", [MergeField("PHONE", "Phone", "phone"), MergeField("FNAME")])
    client.ensure_webhook("L1", "https://connector.example/webhooks/mailchimp/s3cret")
    put = Operation("PUT", f"/lists/L1/members/{subscriber_hash('x@example.com')}")
    client.run_batch(
        [
            Operation(
                put.method, put.path, {"email_address": "x@example.com", "status_if_new": "pending"}
            ),
            Operation("POST", "/ecommerce/stores/S/orders", order),
        ]
    )


class OpenApi:
    """Finds the operation of a request and validates its body against the requestBody schema."""

    def __init__(self, path: Path) -> None:
        self.document = json.loads(path.read_text(encoding="utf-8"))
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), template)
            for template in self.document["paths"]
        ]

    def operation(self, method: str, path: str) -> str:
        matches = [t for rx, t in self.templates if rx.match(path)]
        matches = [t for t in matches if method.lower() in self.document["paths"][t]]
        assert matches, f"{method} {path} is not an operation of the Mailchimp API"
        return min(matches, key=lambda t: t.count("{"))  # literal segments win

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            target = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validate(self, method: str, path: str, body: object) -> str:
        template = self.operation(method, path)
        if body is None:
            return template
        operation = self.document["paths"][template][method.lower()]
        assert "requestBody" in operation, f"{method} {template} takes no body"
        request_body = self.resolve(operation["requestBody"])
        schema = request_body["content"]["application/json"]["schema"]
        validator = jsonschema.Draft4Validator(schema)
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, f"{method} {template}: {errors[:3]}"
        return template


@pytest.fixture(scope="module")
def openapi() -> OpenApi:
    path = openapi_file()
    if path is None:
        pytest.fail("Mailchimp OpenAPI file not found: specs/mailchimp/marketing-api.json")
    return OpenApi(path)


@responses.activate
def test_every_request_the_client_sends_matches_the_official_openapi(openapi):
    fake = FakeMailchimp()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        responses.add_callback(method, ANY, callback=fake)
    walk_client_operations(make_client())
    checked = set()
    for method, path, body in fake.calls:
        checked.add(f"{method} {openapi.validate(method, path, body)}")
        if path == "/batches" and method == "POST":
            for op in body["operations"]:
                inner = json.loads(op["body"]) if "body" in op else None
                checked.add(f"{op['method']} {openapi.validate(op['method'], op['path'], inner)}")
    expected = {
        "PUT /lists/{list_id}/members/{subscriber_hash}",
        "POST /lists/{list_id}/members",
        "PATCH /lists/{list_id}/members/{subscriber_hash}",
        "POST /lists/{list_id}/members/{subscriber_hash}/tags",
        "POST /lists/{list_id}/members/{subscriber_hash}/events",
        "POST /ecommerce/stores",
        "PATCH /ecommerce/stores/{store_id}",
        "PUT /ecommerce/stores/{store_id}/customers/{customer_id}",
        "PATCH /ecommerce/stores/{store_id}/products/{product_id}",
        "PUT /ecommerce/stores/{store_id}/products/{product_id}/variants/{variant_id}",
        "POST /ecommerce/stores/{store_id}/carts",
        "POST /ecommerce/stores/{store_id}/orders",
        "POST /ecommerce/stores/{store_id}/products",
        "PATCH /ecommerce/stores/{store_id}/carts/{cart_id}",
        "PATCH /ecommerce/stores/{store_id}/orders/{order_id}",
        "DELETE /ecommerce/stores/{store_id}/carts/{cart_id}",
        "DELETE /lists/{list_id}/members/{subscriber_hash}",
        "POST /lists/{list_id}/merge-fields",
        "POST /lists/{list_id}/webhooks",
        "POST /batches",
    }
    assert expected <= checked, expected - checked


def test_the_validator_catches_a_bad_body(openapi):
    with pytest.raises(AssertionError):
        openapi.validate("PUT", "/lists/L1/members/abc", {"email_address": "a@b.example"})


@responses.activate
def test_setup_twice_creates_once():
    state = {"store": None, "fields": [{"tag": "FNAME"}], "hooks": []}

    def answer(request):
        path = urlsplit(request.url).path.removeprefix("/3.0")
        body = json.loads(request.body) if request.body else None
        if path == "/ping":
            return 200, {}, json.dumps({"health_status": "Everything's Chimpy!"})
        if path == "/ecommerce/stores/S":
            if state["store"] is None:
                return 404, {}, json.dumps({"title": "Resource Not Found", "status": 404})
            return 200, {}, json.dumps(state["store"])
        if path == "/ecommerce/stores":
            state["store"] = body
            return 200, {}, json.dumps(body)
        if path.endswith("/merge-fields"):
            if request.method == "POST":
                state["fields"].append(body)
            return 200, {}, json.dumps({"merge_fields": state["fields"]})
        if path.endswith("/webhooks"):
            if request.method == "POST":
                state["hooks"].append(body)
            return 200, {}, json.dumps({"webhooks": state["hooks"]})
        return 404, {}, "{}"

    for method in ("GET", "POST"):
        responses.add_callback(method, ANY, callback=answer)
    arguments = dict(
        list_id="L1",
        store_id="S",
        public_url="https://connector.example",
        webhook_secret="s3cret",
        merge_fields=[MergeField("FNAME"), MergeField("PHONE", type="phone")],
    )
    first = setup_mailchimp(make_client(), **arguments)
    second = setup_mailchimp(make_client(), **arguments)
    assert "store S: created" in first and "store S: exists" in second
    assert len(state["fields"]) == 2 and len(state["hooks"]) == 1
    assert state["hooks"][0]["url"].endswith("/webhooks/mailchimp/s3cret")
    assert state["hooks"][0]["sources"]["api"] is False
    assert not any("s3cret" in line for line in first)


@responses.activate
def test_an_invalid_resource_names_each_field_of_its_errors_array(spec):
    body = problem(spec, "invalid-resource-schema.400.json")
    responses.put(re.compile(f"{API}/lists/.*"), status=400, json=body)
    with pytest.raises(MailchimpError) as raised:
        make_client().upsert_member("L1", "a@b.example")
    text = str(raised.value)
    assert text.startswith("[Invalid Resource] Invalid Resource: The resource submitted")
    assert text.endswith(
        "see the 'errors' array. errors: "
        "merge_fields.FNAME: Data did not match any of the schemas described in anyOf.; "
        "merge_fields.LNAME: Data did not match any of the schemas described in anyOf."
    )


def test_setup_before_the_connector_runs_shows_why_mailchimp_refused_the_webhook(
    sandbox_env, tmp_path, monkeypatch
):
    # the README's old order: `connector setup mailchimp` while nothing answers at PUBLIC_URL
    from click.testing import CliRunner

    from connector.cli import main

    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'connector.db'}")
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CONNECTOR_MAILCHIMP_WEBHOOK_SECRET", "mc-secret")
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    result = CliRunner().invoke(main, ["setup", "mailchimp", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert "see the 'errors' array. errors: url: The URL you provided did not respond" in (
        result.output
    )
    assert "mc-secret" not in result.output
