"""WooCommerce webhooks: signed like WooCommerce, pinged on creation, disabled after failures;
the shopper acting through the control API makes the right ones fire."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector_sandbox.sink import Received, WebhookSink
from connector_sandbox.woocommerce.hooks import php_json, signature
from tests.sandbox.conftest import WC_AUTH, spec_json, spec_text

API = "/wp-json/wc/v3"
HEADERS = spec_json("woocommerce/webhook.order.updated.headers.json")


def test_body_encoding_and_signature_match_the_test_vector() -> None:
    body = php_json(spec_json("woocommerce/order.json"))
    assert body == spec_text("woocommerce/webhook.order.updated.body.json").encode()
    expected = HEADERS["headers"]["X-WC-Webhook-Signature"]
    assert signature(body, HEADERS["secret_used_for_signature"]) == expected


def subscribe(wc: FlaskClient, sink: WebhookSink, topic: str, secret: str = "s3cret") -> dict:
    body = {"name": topic, "topic": topic, "delivery_url": sink.url + "/hooks/wc", "secret": secret}
    created = wc.post(f"{API}/webhooks", json=body, headers=WC_AUTH)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def deliveries(wc: FlaskClient, sink: WebhookSink, count: int) -> list[Received]:
    assert wc.post("/_sandbox/deliveries/wait").status_code == 200
    return [r for r in sink.wait_for(count, "/hooks/wc") if "X-WC-Webhook-Topic" in r.headers]


def verify(received: Received, secret: str = "s3cret") -> dict:
    digest = hmac.new(secret.encode(), received.body, hashlib.sha256).digest()
    assert received.headers["X-WC-Webhook-Signature"] == base64.b64encode(digest).decode()
    return json.loads(received.body)


def test_creating_a_webhook_pings_the_url_and_answers_the_documented_shape(
    wc: FlaskClient, webhook_sink: WebhookSink
) -> None:
    hook = subscribe(wc, webhook_sink, "order.updated")
    assert set(hook) == set(spec_json("woocommerce/webhook.json"))
    assert hook["status"] == "active" and hook["resource"] == "order" and hook["event"] == "updated"
    assert "woocommerce_update_order" in hook["hooks"]
    ping = webhook_sink.posts("/hooks/wc")[0]
    assert ping.text() == f"webhook_id={hook['id']}"
    assert not any(h.lower().startswith("x-wc-webhook") for h in ping.headers)
    listed = wc.get(f"{API}/webhooks", headers=WC_AUTH).get_json()
    assert [h["id"] for h in listed] == [hook["id"]]
    refused = wc.delete(f"{API}/webhooks/{hook['id']}", headers=WC_AUTH)
    assert refused.status_code == 501
    assert wc.delete(f"{API}/webhooks/{hook['id']}?force=true", headers=WC_AUTH).status_code == 200


def test_rest_changes_fire_signed_deliveries_with_every_header(
    woo_app: Flask, wc: FlaskClient, webhook_sink: WebhookSink
) -> None:
    for topic in ("order.created", "order.updated", "order.deleted"):
        subscribe(wc, webhook_sink, topic)
    webhook_sink.clear()
    request = spec_json("woocommerce/order.create.request.json")
    order = wc.post(f"{API}/orders", json=request, headers=WC_AUTH).get_json()
    created = deliveries(wc, webhook_sink, 1)
    assert [r.headers["X-WC-Webhook-Topic"] for r in created] == ["order.created"]
    received = created[0]
    for name in HEADERS["headers"]:
        assert name in received.headers, name
    assert received.headers["X-WC-Webhook-Resource"] == "order"
    assert received.headers["X-WC-Webhook-Event"] == "created"
    assert received.headers["X-WC-Webhook-Source"] == "http://localhost/"
    assert re.fullmatch(r"[0-9a-f]{32}", received.headers["X-WC-Webhook-Delivery-ID"])
    assert received.headers["User-Agent"].startswith("WooCommerce/")
    payload = verify(received)
    assert payload["id"] == order["id"] and set(payload) == set(spec_json("woocommerce/order.json"))
    assert b"\\/wp-json\\/wc\\/v3" in received.body

    webhook_sink.clear()
    wc.put(f"{API}/orders/{order['id']}", json={"status": "completed"}, headers=WC_AUTH)
    wc.delete(f"{API}/orders/{order['id']}?force=true", headers=WC_AUTH)
    later = deliveries(wc, webhook_sink, 2)
    assert [r.headers["X-WC-Webhook-Topic"] for r in later] == ["order.updated", "order.deleted"]
    assert verify(later[0])["status"] == "completed"
    assert later[1].body == f'{{"id":{order["id"]}}}'.encode()


def test_customer_and_product_topics(wc: FlaskClient, webhook_sink: WebhookSink) -> None:
    subscribe(wc, webhook_sink, "customer.created")
    subscribe(wc, webhook_sink, "product.updated")
    webhook_sink.clear()
    wc.post(f"{API}/customers", json={"email": "c@example.com"}, headers=WC_AUTH)
    wc.put(f"{API}/products/794", json={"regular_price": "19.99"}, headers=WC_AUTH)
    got = deliveries(wc, webhook_sink, 2)
    assert [r.headers["X-WC-Webhook-Topic"] for r in got] == ["customer.created", "product.updated"]
    assert verify(got[1])["price"] == "19.99"


def test_failed_deliveries_are_not_retried_and_disable_the_webhook(
    woo_app: Flask, wc: FlaskClient, webhook_sink: WebhookSink
) -> None:
    hook = subscribe(wc, webhook_sink, "order.updated")
    webhook_sink.clear()
    webhook_sink.status = 500
    for number in range(6):
        wc.put(f"{API}/orders/727", json={"customer_note": str(number)}, headers=WC_AUTH)
    assert len(deliveries(wc, webhook_sink, 6)) == 6  # each attempted once, never retried
    assert wc.get(f"{API}/webhooks/{hook['id']}", headers=WC_AUTH).get_json()["status"] == "active"
    wc.put(f"{API}/orders/727", json={"customer_note": "7"}, headers=WC_AUTH)
    deliveries(wc, webhook_sink, 7)
    status = wc.get(f"{API}/webhooks/{hook['id']}", headers=WC_AUTH).get_json()["status"]
    assert status == "disabled"
    webhook_sink.clear()
    wc.put(f"{API}/orders/727", json={"customer_note": "8"}, headers=WC_AUTH)
    assert deliveries(wc, webhook_sink, 0) == []


def test_a_success_resets_the_failure_count(wc: FlaskClient, webhook_sink: WebhookSink) -> None:
    hook = subscribe(wc, webhook_sink, "order.updated")
    for round_ in range(2):
        webhook_sink.status = 500
        for number in range(6):
            wc.put(
                f"{API}/orders/727", json={"customer_note": f"{round_}{number}"}, headers=WC_AUTH
            )
        wc.post("/_sandbox/deliveries/wait")
        webhook_sink.status = 200
        wc.put(f"{API}/orders/727", json={"customer_note": "ok"}, headers=WC_AUTH)
        wc.post("/_sandbox/deliveries/wait")
    assert wc.get(f"{API}/webhooks/{hook['id']}", headers=WC_AUTH).get_json()["status"] == "active"


@pytest.fixture
def shop(wc: FlaskClient, webhook_sink: WebhookSink) -> FlaskClient:
    topics = ["order.created", "order.updated", "customer.created"]
    made = wc.post(
        "/_sandbox/admin/webhooks",
        json={"topics": topics, "delivery_url": webhook_sink.url + "/hooks/wc"},
    )
    assert made.status_code == 201
    webhook_sink.clear()
    return wc


def topics(sink: WebhookSink) -> list[str]:
    return [r.headers["X-WC-Webhook-Topic"] for r in sink.posts("/hooks/wc")]


def test_a_registered_shopper_fills_a_cart_orders_and_pays(
    shop: FlaskClient, webhook_sink: WebhookSink
) -> None:
    from connector_sandbox.runner import WOOCOMMERCE_WEBHOOK_SECRET

    registered = shop.post(
        "/_sandbox/shopper/register",
        json={"email": "ann@example.com", "first_name": "Ann", "phone": "+7 900 000-00-00"},
    )
    assert registered.status_code == 201
    customer = registered.get_json()["customer"]
    assert topics(webhook_sink) == ["customer.created"]
    cart = shop.post("/_sandbox/shopper/carts", json={"customer_id": customer["id"]}).get_json()
    shop.post(f"/_sandbox/shopper/carts/{cart['id']}/items", json={"product_id": 93, "quantity": 2})
    filled = shop.post(
        f"/_sandbox/shopper/carts/{cart['id']}/items",
        json={"product_id": 22, "variation_id": 23},
    ).get_json()
    assert filled["total"] == "18.00"
    placed = shop.post(f"/_sandbox/shopper/carts/{cart['id']}/checkout", json={})
    order = placed.get_json()["order"]
    assert order["status"] == "pending" and order["created_via"] == "checkout"
    assert order["customer_id"] == customer["id"] and order["billing"]["email"] == "ann@example.com"
    assert placed.get_json()["deliveries"][0]["status"] == 200
    paid = shop.post(f"/_sandbox/shopper/orders/{order['id']}/pay", json={}).get_json()["order"]
    assert paid["status"] == "processing" and paid["date_paid"] and paid["transaction_id"]
    assert topics(webhook_sink) == ["customer.created", "order.created", "order.updated"]
    last = webhook_sink.posts("/hooks/wc")[-1]
    assert verify(last, WOOCOMMERCE_WEBHOOK_SECRET)["status"] == "processing"


def test_a_guest_orders_then_cancels_and_another_is_refunded(
    shop: FlaskClient, webhook_sink: WebhookSink
) -> None:
    cart = shop.post("/_sandbox/shopper/carts", json={}).get_json()
    shop.post(f"/_sandbox/shopper/carts/{cart['id']}/items", json={"product_id": 794})
    guest = {"billing": {"email": "guest@example.com", "first_name": "Guest"}}
    order = shop.post(f"/_sandbox/shopper/carts/{cart['id']}/checkout", json=guest).get_json()
    assert order["order"]["customer_id"] == 0
    cancelled = shop.post(f"/_sandbox/shopper/orders/{order['order']['id']}/cancel").get_json()
    assert cancelled["order"]["status"] == "cancelled"

    cart = shop.post("/_sandbox/shopper/carts", json={}).get_json()
    shop.post(f"/_sandbox/shopper/carts/{cart['id']}/items", json={"product_id": 794})
    paid = shop.post(
        f"/_sandbox/shopper/carts/{cart['id']}/checkout", json=guest | {"pay": True}
    ).get_json()["order"]
    assert paid["status"] == "processing"
    partial = shop.post(
        f"/_sandbox/shopper/orders/{paid['id']}/refund", json={"amount": "5.00", "reason": "late"}
    ).get_json()
    assert partial["kind"] == "partial" and partial["order"]["status"] == "processing"
    full = shop.post(f"/_sandbox/shopper/orders/{paid['id']}/refund", json={}).get_json()
    assert full["kind"] == "full" and full["order"]["status"] == "refunded"
    assert len(full["order"]["refunds"]) == 2
    assert topics(webhook_sink) == ["order.created", "order.updated"] * 2 + ["order.updated"] * 2
