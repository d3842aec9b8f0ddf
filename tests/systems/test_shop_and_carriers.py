"""WooCommerce, CDEK and Nova Poshta clients against the documented example payloads."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connector.errors import AuthError, PermanentError, TransientError
from connector.http import RetryPolicy
from connector.systems.cdek import CdekClient
from connector.systems.novaposhta import NovaPoshtaClient
from connector.systems.woocommerce import (
    WEBHOOK_TOPICS,
    WooCommerceClient,
    item_error,
    parse_delivery,
    verify_webhook_signature,
)
from connector.systems.woocommerce.setup import setup_woocommerce
from tests.systems.conftest import specs_dir

SHOP = "https://shop.example"
WC = SHOP + "/wp-json/wc/v3"
NO_SLEEP = RetryPolicy(sleep=lambda s: None)


def shop() -> WooCommerceClient:
    return WooCommerceClient(SHOP, "ck_x", "cs_y", retry=NO_SLEEP)


def raw(relative: str) -> bytes:
    return (specs_dir() / relative).read_bytes()


# --------------------------------------------------------------------------- WooCommerce webhooks


def test_signature_of_the_documented_delivery_verifies():
    body = raw("woocommerce/webhook.order.updated.body.json")
    vector = json.loads(raw("woocommerce/webhook.order.updated.headers.json"))
    secret = vector["secret_used_for_signature"]
    signature = vector["headers"]["X-WC-Webhook-Signature"]
    assert verify_webhook_signature(body, signature, secret)
    assert not verify_webhook_signature(body + b" ", signature, secret)
    assert not verify_webhook_signature(body, signature, "other")
    assert not verify_webhook_signature(body, None, secret)
    # re-serialised JSON does not match: PHP escapes slashes
    reencoded = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert not verify_webhook_signature(reencoded, signature, secret)


def test_delivery_and_ping_are_parsed():
    body = raw("woocommerce/webhook.order.updated.body.json")
    headers = json.loads(raw("woocommerce/webhook.order.updated.headers.json"))["headers"]
    delivery = parse_delivery(body, headers)
    assert (delivery.topic, delivery.resource_id, delivery.is_ping) == ("order.updated", 727, False)
    assert delivery.dedupe_key.startswith("order.updated:727:2017-03-22T19:28:08")
    ping = parse_delivery(raw("woocommerce/webhook.ping.form.txt"), {})
    assert ping.is_ping and ping.webhook_id == "142"
    deleted = parse_delivery(
        raw("woocommerce/webhook.order.deleted.body.json"),
        {"X-WC-Webhook-Topic": "order.deleted"},
    )
    assert deleted.event == "deleted" and deleted.resource_id


# --------------------------------------------------------------------------- WooCommerce REST


@responses.activate
def test_orders_are_paged_by_modified_after(spec):
    orders = spec("woocommerce/orders.list.json")
    responses.get(WC + "/orders", json=orders, headers={"X-WP-TotalPages": "2"})
    responses.get(WC + "/orders", json=orders[:1], headers={"X-WP-TotalPages": "2"})
    rows = list(shop().list_orders("2026-01-01T00:00:00"))
    assert len(rows) == len(orders) + 1
    first = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert first["modified_after"] == ["2026-01-01T00:00:00"]
    assert first["dates_are_gmt"] == ["true"] and first["orderby"] == ["modified"]
    assert first["per_page"] == ["100"] and first["page"] == ["1"]
    assert parse_qs(urlsplit(responses.calls[1].request.url).query)["page"] == ["2"]


@responses.activate
def test_order_status_and_meta_update(spec):
    responses.put(WC + "/orders/727", json=spec("woocommerce/order.json"))
    shop().update_order(727, status="completed", meta={"_bitrix24_deal": "394"})
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {"status": "completed", "meta_data": [{"key": "_bitrix24_deal", "value": "394"}]}


@responses.activate
def test_batch_update_reports_each_item(spec):
    answer = spec("woocommerce/orders.batch.response.json")
    answer["update"].append(
        {
            "id": 9,
            "error": {
                "code": "woocommerce_rest_shop_order_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": 400},
            },
        }
    )
    responses.post(WC + "/orders/batch", json=answer)
    updates = [{"id": i, "status": "completed"} for i in range(len(answer["update"]))]
    results = shop().batch_update_orders(updates)
    errors = [item_error(item) for item in results]
    assert errors[-1] is not None and isinstance(errors[-1], PermanentError)
    assert all(error is None for error in errors[:-1])


@responses.activate
def test_batch_update_splits_at_100():
    responses.post(WC + "/orders/batch", json={"update": []})
    shop().batch_update_orders([{"id": i} for i in range(250)])
    sizes = [len(json.loads(c.request.body)["update"]) for c in responses.calls]
    assert sizes == [100, 100, 50]


@responses.activate
def test_woocommerce_errors_are_typed(spec):
    responses.get(
        WC + "/orders/1", status=404, json=spec("woocommerce/error.rest_no_route.404.json")
    )
    with pytest.raises(PermanentError) as raised:
        shop().get_order(1)
    assert raised.value.code == "rest_no_route"
    responses.get(WC + "/orders/2", status=401, json={"code": "woocommerce_rest_cannot_view"})
    with pytest.raises(AuthError):
        shop().get_order(2)
    responses.get(WC + "/orders/3", status=503, body="down")
    responses.get(WC + "/orders/3", json={"id": 3})
    assert shop().get_order(3) == {"id": 3}


@responses.activate
def test_setup_lists_first_and_registers_each_topic_once():
    hooks: list[dict] = []

    def listing(request):
        return 200, {"X-WP-TotalPages": "1"}, json.dumps(hooks)

    def create(request):
        body = json.loads(request.body)
        hooks.append({**body, "id": len(hooks) + 1})
        return 201, {}, json.dumps(hooks[-1])

    responses.get(WC + "/orders", json=[])
    responses.add_callback(responses.GET, WC + "/webhooks", callback=listing)
    responses.add_callback(responses.POST, WC + "/webhooks", callback=create)
    responses.put(re.compile(WC + "/webhooks/.*"), json={})
    args = dict(public_url="https://connector.example/", webhook_secret="s3")
    first = setup_woocommerce(shop(), **args)
    hooks[0]["status"] = "disabled"  # WooCommerce switched it off after failed deliveries
    second = setup_woocommerce(shop(), **args)
    topics = len(WEBHOOK_TOPICS)
    assert f"{topics} created" in first[-1]
    assert f"0 created, 1 re-activated, {topics - 1} kept" in second[-1]
    assert {h["topic"] for h in hooks} >= {"order.created", "order.updated", "customer.updated"}
    assert all(h["delivery_url"] == "https://connector.example/webhooks/woocommerce" for h in hooks)
    assert all(h["secret"] == "s3" for h in hooks)


# --------------------------------------------------------------------------- CDEK

CDEK = "https://api.cdek.example/v2"


def cdek(clock) -> CdekClient:
    return CdekClient(CDEK, "acc", "pwd", retry=NO_SLEEP, clock=clock)


@responses.activate
def test_cdek_token_is_reused_then_renewed(clock, spec):
    token = {**spec("delivery/cdek/oauth.token.response.json"), "access_token": "t1"}
    responses.post(CDEK + "/oauth/token", json=token)
    responses.get(
        re.compile(CDEK + "/orders/.*"), json=spec("delivery/cdek/order.get.response.json")
    )
    client = cdek(clock)
    client.get_order("u1")
    client.get_order("u2")
    assert len([c for c in responses.calls if "oauth" in c.request.url]) == 1
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["client_credentials"] and form["client_id"] == ["acc"]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t1"
    clock.now += 3600
    client.get_order("u3")
    assert len([c for c in responses.calls if "oauth" in c.request.url]) == 2


@responses.activate
def test_cdek_order_creation_and_invalid_request(clock, spec):
    responses.post(CDEK + "/oauth/token", json={"access_token": "t", "expires_in": 3599})
    responses.post(CDEK + "/orders", json=spec("delivery/cdek/order.create.response.json"))
    answer = cdek(clock).create_order(spec("delivery/cdek/order.create.request.json"))
    assert answer["entity"]["uuid"]
    invalid = {
        "entity": {"uuid": "x"},
        "requests": [
            {
                "state": "INVALID",
                "errors": [{"code": "v2_field_is_empty", "message": "tariff_code"}],
            }
        ],
    }
    responses.post(CDEK + "/orders", json=invalid, status=202)
    with pytest.raises(PermanentError) as raised:
        cdek(clock).create_order({})
    assert raised.value.code == "v2_field_is_empty"


@responses.activate
def test_cdek_webhook_subscription_is_not_repeated(clock, spec):
    request = spec("delivery/cdek/webhooks.subscribe.request.json")
    responses.post(CDEK + "/oauth/token", json={"access_token": "t", "expires_in": 3599})
    responses.get(CDEK + "/webhooks", json=[])
    responses.post(CDEK + "/webhooks", json={"entity": {"uuid": "w1"}})
    responses.get(CDEK + "/webhooks", json=[{**request, "uuid": "w1"}])
    client = cdek(clock)
    assert client.subscribe_webhook(request["url"])[1] is True
    assert client.subscribe_webhook(request["url"])[1] is False
    assert json.loads(responses.calls[2].request.body) == request


@responses.activate
def test_cdek_bad_credentials_are_an_auth_error(clock):
    responses.post(CDEK + "/oauth/token", status=401, json={"error": "invalid_client"})
    with pytest.raises(AuthError):
        cdek(clock).get_order("u")


# --------------------------------------------------------------------------- Nova Poshta

NP = "https://api.novaposhta.example/v2.0/json/"


@responses.activate
def test_tracking_goes_in_batches_of_100(spec):
    answer = spec("delivery/novaposhta/getStatusDocuments.response.json")
    responses.post(NP, json=answer)
    client = NovaPoshtaClient("https://api.novaposhta.example", "key", retry=NO_SLEEP)
    statuses = client.track([(f"2040004879{i:04d}", "380600000000") for i in range(150)])
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert [len(b["methodProperties"]["Documents"]) for b in bodies] == [100, 50]
    assert bodies[0]["modelName"] == "TrackingDocument"
    assert bodies[0]["calledMethod"] == "getStatusDocuments" and bodies[0]["apiKey"] == "key"
    assert len(statuses) == 2 * len(answer["data"])
    assert statuses[0]["StatusCode"]


@responses.activate
def test_nova_poshta_refusal_inside_a_200_is_permanent(spec):
    responses.post(
        NP, json=spec("delivery/novaposhta/getStatusDocuments.error.invalid-number.json")
    )
    with pytest.raises(PermanentError) as raised:
        NovaPoshtaClient(NP, "key", retry=NO_SLEEP).track(["445"])
    assert raised.value.code == "20001401442"


@responses.activate
def test_waybill_is_not_resent_after_an_ambiguous_failure():
    responses.post(NP, status=502, body="bad gateway")
    with pytest.raises(TransientError):
        NovaPoshtaClient(NP, "key", retry=NO_SLEEP).create_waybill({"PayerType": "Sender"})
    assert len(responses.calls) == 1


@responses.activate
def test_customers_changed_since_are_filtered_on_our_side(spec):
    customers = spec("woocommerce/customers.list.json")
    stamps = sorted(str(c["date_modified_gmt"]) for c in customers)
    responses.get(WC + "/customers", json=customers, headers={"X-WP-TotalPages": "1"})
    newer = list(shop().list_customers(stamps[0]))
    assert len(newer) == len([s for s in stamps if s > stamps[0]])
    assert len(list(shop().list_customers())) == len(customers)
    assert "modified_after" not in responses.calls[0].request.url
