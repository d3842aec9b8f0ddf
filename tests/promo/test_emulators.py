"""The emulators' side of issue 17: WooCommerce coupons as the shop keeps them, and Mailchimp
refusing an order that names a campaign its audience never had."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.sandbox.conftest import MC_AUTH, WC_AUTH, mailchimp_app, mc, wc, woo_app  # noqa: F401

API = "/wp-json/wc/v3"
STORE = "/3.0/ecommerce/stores/sandbox-store"


def test_the_shop_keeps_coupons_with_unique_lowercased_codes_and_refuses_bad_ones(wc: FlaskClient):  # noqa: F811
    made = wc.post(f"{API}/coupons", json={"code": "Spring10", "amount": "10"}, headers=WC_AUTH)
    assert made.status_code == 201
    coupon = made.get_json()
    assert (coupon["code"], coupon["amount"], coupon["discount_type"]) == (
        "spring10",
        "10.00",
        "fixed_cart",
    )
    again = wc.post(f"{API}/coupons", json={"code": "SPRING10"}, headers=WC_AUTH)
    assert again.status_code == 400
    assert again.get_json()["code"] == "woocommerce_rest_coupon_code_already_exists"
    nameless = wc.post(f"{API}/coupons", json={"amount": "5"}, headers=WC_AUTH)
    assert nameless.status_code == 400 and "code" in nameless.get_json()["message"]
    odd = wc.put(f"{API}/coupons/{coupon['id']}", json={"discount_type": "bogo"}, headers=WC_AUTH)
    assert odd.status_code == 400 and odd.get_json()["data"]["params"] == {
        "discount_type": "discount_type is not one of percent, fixed_cart, fixed_product."
    }
    listed = wc.get(
        f"{API}/coupons?modified_after=2000-01-01T00:00:00&orderby=modified&order=asc",
        headers=WC_AUTH,
    ).get_json()
    assert [c["code"] for c in listed] == ["spring10"]
    assert wc.delete(f"{API}/coupons/{coupon['id']}?force=true", headers=WC_AUTH).status_code == 200
    assert wc.get(f"{API}/coupons/{coupon['id']}", headers=WC_AUTH).status_code == 404


def test_mailchimp_refuses_an_order_naming_a_campaign_its_audience_never_had(mc: FlaskClient):  # noqa: F811
    product = {"id": "93", "title": "Single", "variants": [{"id": "93", "title": "Single"}]}
    assert mc.post(f"{STORE}/products", json=product, headers=MC_AUTH).status_code == 200
    order = {
        "id": "o1",
        "customer": {"id": "c1", "email_address": "olena@example.com", "opt_in_status": False},
        "currency_code": "USD",
        "order_total": 9,
        "campaign_id": "839488a60b",
        "landing_site": "https://shop.example/?mc_cid=839488a60b",
        "lines": [
            {"id": "l1", "product_id": "93", "product_variant_id": "93", "quantity": 1, "price": 9}
        ],
    }
    refused = mc.post(f"{STORE}/orders", json=order, headers=MC_AUTH)
    assert refused.status_code == 400
    assert refused.get_json()["detail"] == (
        "A campaign with the provided ID does not exist in the account for this list."
    )
    mc.post("/_sandbox/campaigns", json={"id": "839488a60b"})
    kept = mc.post(f"{STORE}/orders", json=order, headers=MC_AUTH).get_json()
    assert (kept["campaign_id"], kept["landing_site"]) == (
        order["campaign_id"],
        order["landing_site"],
    )
