"""The Mailchimp e-commerce API: products first, customers join the audience, carts and orders."""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient

from tests.sandbox.conftest import MC_AUTH

STORE = "/3.0/ecommerce/stores/sandbox-store"
PRODUCT = {
    "id": "93",
    "title": "Woo Single #1",
    "variants": [{"id": "93", "title": "Woo Single #1", "price": 3, "inventory_quantity": 5}],
}


def member(mc: FlaskClient, email: str) -> dict:
    key = hashlib.md5(email.lower().encode()).hexdigest()
    return mc.get(f"/3.0/lists/sandbox-list/members/{key}", headers=MC_AUTH).get_json()


def test_a_customer_joins_the_audience_as_transactional_until_opted_in(mc: FlaskClient) -> None:
    customer = {"id": "25", "email_address": "john.doe@example.com", "opt_in_status": False}
    created = mc.put(f"{STORE}/customers/25", json=customer, headers=MC_AUTH)
    assert created.status_code == 200 and created.get_json()["orders_count"] == 0
    assert member(mc, "john.doe@example.com")["status"] == "transactional"
    mc.patch(f"{STORE}/customers/25", json={"opt_in_status": True}, headers=MC_AUTH)
    assert member(mc, "john.doe@example.com")["status"] == "subscribed"
    mc.patch(f"{STORE}/customers/25", json={"opt_in_status": False}, headers=MC_AUTH)
    assert member(mc, "john.doe@example.com")["status"] == "subscribed"  # never downgraded


def test_an_invalid_customer_email_is_customer_was_not_saved(mc: FlaskClient) -> None:
    bad = {"id": "9", "email_address": "invalid@gmaill", "opt_in_status": False}
    response = mc.put(f"{STORE}/customers/9", json=bad, headers=MC_AUTH)
    assert response.status_code == 400
    assert response.get_json()["title"] == "Customer Was Not Saved"


def test_orders_need_existing_variants_and_count_towards_the_customer(mc: FlaskClient) -> None:
    order = {
        "id": "727",
        "customer": {"id": "25", "email_address": "john.doe@example.com", "opt_in_status": True},
        "currency_code": "USD",
        "order_total": 16,
        "financial_status": "paid",
        "processed_at_foreign": "2017-03-22T19:28:02+00:00",
        "lines": [
            {"id": "315", "product_id": "93", "product_variant_id": "93", "quantity": 2, "price": 3}
        ],
    }
    early = mc.post(f"{STORE}/orders", json=order, headers=MC_AUTH)
    assert early.status_code == 400 and early.get_json()["errors"][0]["field"] == "lines.item:0"
    assert mc.post(f"{STORE}/products", json=PRODUCT, headers=MC_AUTH).status_code == 200
    created = mc.post(f"{STORE}/orders", json=order, headers=MC_AUTH)
    assert created.status_code == 200
    line = created.get_json()["lines"][0]
    assert line["product_title"] == "Woo Single #1" and line["quantity"] == 2
    again = mc.post(f"{STORE}/orders", json=order, headers=MC_AUTH)
    assert again.status_code == 400 and "already exists" in again.get_json()["detail"]
    shipped = mc.patch(
        f"{STORE}/orders/727", json={"fulfillment_status": "shipped"}, headers=MC_AUTH
    ).get_json()
    assert shipped["fulfillment_status"] == "shipped" and shipped["financial_status"] == "paid"
    customer = mc.get(f"{STORE}/customers/25", headers=MC_AUTH).get_json()
    assert customer["orders_count"] == 1 and customer["total_spent"] == 16
    assert member(mc, "john.doe@example.com")["status"] == "subscribed"


def test_orders_and_carts_have_no_put(mc: FlaskClient) -> None:
    response = mc.put(f"{STORE}/orders/1", json={}, headers=MC_AUTH)
    assert response.status_code == 405


def test_carts_lines_variants_and_promos(mc: FlaskClient) -> None:
    mc.post(f"{STORE}/products", json=PRODUCT, headers=MC_AUTH)
    variant = {"id": "93-b", "title": "Blue", "price": 4}
    put_variant = mc.put(f"{STORE}/products/93/variants/93-b", json=variant, headers=MC_AUTH)
    assert put_variant.status_code == 200
    cart = {
        "id": "cart-1",
        "customer": {"id": "26", "email_address": "joao@example.com", "opt_in_status": False},
        "currency_code": "USD",
        "order_total": 4,
        "checkout_url": "http://shop.example/cart/1",
        "lines": [
            {"id": "1", "product_id": "93", "product_variant_id": "93-b", "quantity": 1, "price": 4}
        ],
    }
    assert mc.post(f"{STORE}/carts", json=cart, headers=MC_AUTH).status_code == 200
    line = {"id": "2", "product_id": "93", "product_variant_id": "93", "quantity": 1, "price": 3}
    assert mc.post(f"{STORE}/carts/cart-1/lines", json=line, headers=MC_AUTH).status_code == 200
    assert len(mc.get(f"{STORE}/carts/cart-1", headers=MC_AUTH).get_json()["lines"]) == 2
    carts = mc.get(f"{STORE}/carts", headers=MC_AUTH).get_json()
    assert carts["total_items"] == 1 and carts["store_id"] == "sandbox-store"
    assert mc.delete(f"{STORE}/carts/cart-1", headers=MC_AUTH).status_code == 204
    rule = {"id": "r1", "description": "10% off", "amount": 0.1, "type": "percentage"}
    rule["target"] = "total"
    assert mc.post(f"{STORE}/promo-rules", json=rule, headers=MC_AUTH).status_code == 200
    code = {"id": "c1", "code": "TEN", "redemption_url": "http://shop.example"}
    made = mc.post(f"{STORE}/promo-rules/r1/promo-codes", json=code, headers=MC_AUTH)
    assert made.status_code == 200 and made.get_json()["usage_count"] == 0
    listed = mc.get(f"{STORE}/promo-rules/r1/promo-codes", headers=MC_AUTH).get_json()
    assert [c["code"] for c in listed["promo_codes"]] == ["TEN"]


def test_stores_are_created_for_existing_audiences_only(mc: FlaskClient) -> None:
    store = {"id": "s2", "list_id": "nope", "name": "Other", "currency_code": "EUR"}
    assert mc.post("/3.0/ecommerce/stores", json=store, headers=MC_AUTH).status_code == 400
    store["list_id"] = "sandbox-list"
    assert mc.post("/3.0/ecommerce/stores", json=store, headers=MC_AUTH).status_code == 200
    listed = mc.get("/3.0/ecommerce/stores", headers=MC_AUTH).get_json()
    assert {s["id"] for s in listed["stores"]} == {"sandbox-store", "s2"}
