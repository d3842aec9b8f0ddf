"""WooCommerce REST v3: the documented requests work and answers have the documented shapes."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.sandbox.conftest import WC_AUTH, basic, spec_json

API = "/wp-json/wc/v3"


def keys(name: str) -> set[str]:
    return set(spec_json(f"woocommerce/{name}"))


def test_without_credentials_the_shop_refuses_like_woocommerce(wc: FlaskClient) -> None:
    listed = wc.get(f"{API}/orders")
    assert listed.status_code == 401
    assert listed.get_json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    assert wc.post(f"{API}/orders", json={}).get_json()["code"] == "woocommerce_rest_cannot_create"
    assert wc.put(f"{API}/orders/727", json={}).get_json()["code"] == "woocommerce_rest_cannot_edit"
    wrong = wc.get(f"{API}/orders", headers=basic("ck_wrong", "cs_wrong"))
    assert wrong.get_json()["code"] == "woocommerce_rest_authentication_error"


def test_query_string_credentials_are_accepted(wc: FlaskClient) -> None:
    from connector_sandbox import runner

    query = f"consumer_key={runner.WOOCOMMERCE_KEY}&consumer_secret={runner.WOOCOMMERCE_SECRET}"
    assert wc.get(f"{API}/orders/727?{query}").status_code == 200


def test_documented_resources_have_the_documented_keys(wc: FlaskClient) -> None:
    order = wc.get(f"{API}/orders/727", headers=WC_AUTH).get_json()
    assert set(order) == keys("order.json")
    documented = spec_json("woocommerce/order.json")
    assert set(order["line_items"][1]) == set(documented["line_items"][1])
    assert order["line_items"][1]["name"] == documented["line_items"][1]["name"]
    assert order["line_items"][0]["price"] == 3 and isinstance(order["line_items"][0]["price"], int)
    assert set(order["billing"]) == set(documented["billing"])
    assert set(order["shipping"]) == set(documented["shipping"])
    assert set(order["_links"]) == set(documented["_links"])
    customer = wc.get(f"{API}/customers/25", headers=WC_AUTH).get_json()
    assert set(customer) == keys("customer.json")
    assert customer["billing"] == spec_json("woocommerce/customer.json")["billing"]
    product = wc.get(f"{API}/products/794", headers=WC_AUTH).get_json()
    assert set(product) == keys("product.json")
    assert product["price"] == "21.99" and product["categories"][1]["slug"] == "t-shirts"


def test_the_documented_order_create_request_makes_a_paid_order(wc: FlaskClient) -> None:
    created = wc.post(
        f"{API}/orders", json=spec_json("woocommerce/order.create.request.json"), headers=WC_AUTH
    )
    assert created.status_code == 201
    order = created.get_json()
    assert order["status"] == "processing" and order["date_paid"]
    assert [(i["product_id"], i["variation_id"], i["quantity"]) for i in order["line_items"]] == [
        (93, 0, 2),
        (22, 23, 1),
    ]
    assert order["shipping_total"] == "10.00" and order["total"] == "28.00"
    assert order["created_via"] == "rest-api" and order["customer_id"] == 0


def test_the_documented_batch_request_creates_updates_and_deletes(wc: FlaskClient) -> None:
    request = spec_json("woocommerce/orders.batch.request.json")
    answer = wc.post(f"{API}/orders/batch", json=request, headers=WC_AUTH)
    assert answer.status_code == 200
    body = answer.get_json()
    documented = spec_json("woocommerce/orders.batch.response.json")
    assert set(body) == set(documented)
    assert [o["status"] for o in body["create"]] == ["pending", "processing"]
    assert [o["id"] for o in body["update"]] == [727] and [o["id"] for o in body["delete"]] == [723]
    assert set(body["create"][0]) == set(documented["create"][0])
    gone = wc.get(f"{API}/orders/723", headers=WC_AUTH)
    assert gone.status_code == 404
    assert gone.get_json() == {
        "code": "woocommerce_rest_shop_order_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }


def test_batches_of_more_than_100_are_refused_and_item_errors_stay_per_item(
    wc: FlaskClient,
) -> None:
    too_many = {"update": [{"id": 727}] * 101}
    refused = wc.post(f"{API}/orders/batch", json=too_many, headers=WC_AUTH)
    assert refused.status_code == 413
    assert refused.get_json()["code"] == "rest_request_entity_too_large"
    mixed = wc.post(
        f"{API}/orders/batch", json={"update": [{"id": 1}, {"id": 727}]}, headers=WC_AUTH
    ).get_json()
    assert mixed["update"][0]["error"]["code"] == "woocommerce_rest_shop_order_invalid_id"
    assert mixed["update"][1]["id"] == 727


def test_lists_page_sort_and_filter_by_modification(wc: FlaskClient) -> None:
    page = wc.get(f"{API}/products?per_page=2&page=2&orderby=id&order=asc", headers=WC_AUTH)
    assert page.headers["X-WP-Total"] == "6" and page.headers["X-WP-TotalPages"] == "3"
    assert [p["id"] for p in page.get_json()] == [79, 87]
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]
    too_big = wc.get(f"{API}/products?per_page=101", headers=WC_AUTH)
    assert too_big.status_code == 400 and too_big.get_json()["code"] == "rest_invalid_param"
    wc.put(f"{API}/orders/723", json={"customer_note": "ring twice"}, headers=WC_AUTH)
    recent = wc.get(
        f"{API}/orders?modified_after=2020-01-01T00:00:00&dates_are_gmt=true", headers=WC_AUTH
    )
    assert [o["id"] for o in recent.get_json()] == [723]
    assert recent.headers["X-WP-Total"] == "1"
    by_status = wc.get(f"{API}/orders?status=completed", headers=WC_AUTH).get_json()
    assert [o["id"] for o in by_status] == [723]
    oldest_first = wc.get(f"{API}/orders?orderby=date&order=asc", headers=WC_AUTH).get_json()
    assert [o["id"] for o in oldest_first] == [723, 727]


def test_update_with_put_or_post_and_delete_to_trash_or_for_good(wc: FlaskClient) -> None:
    put = wc.put(f"{API}/orders/727", json={"status": "completed"}, headers=WC_AUTH).get_json()
    assert put["status"] == "completed" and put["date_completed"]
    post = wc.post(f"{API}/orders/727", json={"customer_note": "hi"}, headers=WC_AUTH).get_json()
    assert post["customer_note"] == "hi"
    trashed = wc.delete(f"{API}/orders/727", headers=WC_AUTH).get_json()
    assert trashed["id"] == 727
    assert wc.get(f"{API}/orders/727", headers=WC_AUTH).get_json()["status"] == "trash"
    assert wc.delete(f"{API}/orders/727?force=true", headers=WC_AUTH).status_code == 200
    assert wc.get(f"{API}/orders/727", headers=WC_AUTH).status_code == 404


def test_refunds_and_notes(wc: FlaskClient) -> None:
    partial = wc.post(
        f"{API}/orders/727/refunds", json={"amount": "10.00", "reason": "dent"}, headers=WC_AUTH
    )
    assert partial.status_code == 201
    assert set(partial.get_json()) == keys("order-refund.json")
    order = wc.get(f"{API}/orders/727", headers=WC_AUTH).get_json()
    assert order["status"] == "processing"
    refund_id = partial.get_json()["id"]
    assert order["refunds"] == [{"id": refund_id, "reason": "dent", "total": "-10.00"}]
    too_much = wc.post(f"{API}/orders/727/refunds", json={"amount": "999"}, headers=WC_AUTH)
    assert too_much.status_code == 400
    wc.post(f"{API}/orders/727/refunds", json={"amount": "18.00"}, headers=WC_AUTH)
    assert wc.get(f"{API}/orders/727", headers=WC_AUTH).get_json()["status"] == "refunded"
    note = wc.post(
        f"{API}/orders/727/notes", json={"note": "Called the customer"}, headers=WC_AUTH
    ).get_json()
    assert note["note"] == "Called the customer" and note["customer_note"] is False
    notes = wc.get(f"{API}/orders/727/notes", headers=WC_AUTH).get_json()
    assert notes[0]["id"] == note["id"]
    assert any("Refunded" in n["note"] for n in notes)


def test_customers_are_unique_by_email_and_cannot_be_trashed(wc: FlaskClient) -> None:
    body = {"email": "new@example.com", "first_name": "New", "billing": {"phone": "+7 900"}}
    created = wc.post(f"{API}/customers", json=body, headers=WC_AUTH)
    assert created.status_code == 201
    assert (
        created.get_json()["username"] == "new"
        and created.get_json()["billing"]["phone"] == "+7 900"
    )
    again = wc.post(f"{API}/customers", json=body, headers=WC_AUTH)
    assert (
        again.status_code == 400 and again.get_json()["code"] == "registration-error-email-exists"
    )
    customer_id = created.get_json()["id"]
    trash = wc.delete(f"{API}/customers/{customer_id}", headers=WC_AUTH)
    assert trash.status_code == 501
    assert trash.get_json()["code"] == "woocommerce_rest_trash_not_supported"
    assert (
        wc.delete(f"{API}/customers/{customer_id}?force=true", headers=WC_AUTH).status_code == 200
    )
    found = wc.get(f"{API}/customers?email=john.doe@example.com", headers=WC_AUTH).get_json()
    assert [c["id"] for c in found] == [25]


def test_unknown_routes_answer_rest_no_route(wc: FlaskClient) -> None:
    response = wc.get(f"{API}/nothing-here", headers=WC_AUTH)
    assert response.status_code == 404
    assert response.get_json() == spec_json("woocommerce/error.rest_no_route.404.json")


def test_products_keep_skus_unique_and_track_stock(wc: FlaskClient) -> None:
    body = {"name": "Mug", "regular_price": "5.00", "sku": "MUG", "manage_stock": True}
    body["stock_quantity"] = 3
    mug = wc.post(f"{API}/products", json=body, headers=WC_AUTH).get_json()
    assert mug["price"] == "5.00" and mug["stock_status"] == "instock"
    duplicate = wc.post(f"{API}/products", json={"name": "Other", "sku": "MUG"}, headers=WC_AUTH)
    assert duplicate.get_json()["code"] == "product_invalid_sku"
    order = {"set_paid": True, "line_items": [{"product_id": mug["id"], "quantity": 3}]}
    order["billing"] = {"email": "buyer@example.com"}
    wc.post(f"{API}/orders", json=order, headers=WC_AUTH)
    after = wc.get(f"{API}/products/{mug['id']}", headers=WC_AUTH).get_json()
    assert after["stock_quantity"] == 0 and after["stock_status"] == "outofstock"
    by_sku = wc.get(f"{API}/products?sku=MUG", headers=WC_AUTH).get_json()
    assert [p["id"] for p in by_sku] == [mug["id"]]


def test_variations_of_a_variable_product(wc: FlaskClient) -> None:
    product = wc.get(f"{API}/products/22", headers=WC_AUTH).get_json()
    assert product["type"] == "variable" and product["variations"] == [23, 24]
    listed = wc.get(f"{API}/products/22/variations", headers=WC_AUTH)
    assert [v["sku"] for v in listed.get_json()] == ["Bar3", "Bar4"]
    one = wc.get(f"{API}/products/22/variations/23", headers=WC_AUTH).get_json()
    assert one["price"] == "12.00" and one["attributes"][0]["option"] == "Black"
    assert wc.get(f"{API}/products/22/variations/99", headers=WC_AUTH).status_code == 404


def test_orders_for_unknown_customers_or_products_are_refused(wc: FlaskClient) -> None:
    stranger = wc.post(f"{API}/orders", json={"customer_id": 999999}, headers=WC_AUTH)
    assert stranger.status_code == 400
    assert stranger.get_json()["code"] == "woocommerce_rest_invalid_customer_id"
    ghost = wc.post(f"{API}/orders", json={"line_items": [{"product_id": 4242}]}, headers=WC_AUTH)
    assert ghost.status_code == 400
    assert ghost.get_json()["code"] == "woocommerce_rest_invalid_product_id"
