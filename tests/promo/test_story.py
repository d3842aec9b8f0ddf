"""The story of issue 17 on the sandbox: an order placed with a coupon after a click in a Mailchimp
campaign shows both in Mailchimp's order (revenue attributed) and on the Bitrix24 deal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import World, open_world


class PromoWorld(World):
    def promo_code(self, rule_id: str) -> dict[str, Any]:
        state = self.state("mailchimp")
        codes = state["store_items"][self.services.settings.mailchimp_store_id]["promo-codes"]
        return codes[rule_id][rule_id]


@pytest.fixture
def world(fresh_sandbox, tmp_path, webhook_sink, store_url):
    with open_world(PromoWorld, fresh_sandbox, tmp_path, webhook_sink, store_url) as built:
        yield built


CAMPAIGN = [
    # what the official "Mailchimp for WooCommerce" plugin (and ours) store from mc_cid/mc_landing
    {"key": "_mailchimp_campaign_id", "value": "839488a60b"},
    {"key": "_mailchimp_landing_site", "value": "https://shop.example/?mc_cid=839488a60b"},
    {"key": "_wc_order_attribution_utm_source", "value": "mailchimp"},
    {"key": "_wc_order_attribution_utm_medium", "value": "email"},
    {"key": "_wc_order_attribution_utm_campaign", "value": "spring"},
]


def test_an_order_with_a_coupon_from_a_campaign_shows_both_in_mailchimp_and_on_the_deal(world):
    shop = world.services.woocommerce
    topics = ["coupon.created", "coupon.updated", "coupon.deleted"]
    shop.ensure_webhooks(
        f"{world.url}/webhooks/woocommerce",
        world.services.settings.woocommerce_webhook_secret,
        topics,
    )
    coupon = shop.request(
        "POST",
        "/coupons",
        json={"code": "SPRING10", "discount_type": "percent", "amount": "10", "usage_limit": 1},
    )
    world.settle()
    rule_id = f"woocommerce-{coupon['id']}"
    rule = world.store_items("promo-rules")[rule_id]
    assert (rule["type"], rule["amount"], rule["target"]) == ("percentage", 0.1, "total")
    code = world.promo_code(rule_id)
    assert (code["code"], code["usage_count"], code["enabled"]) == ("spring10", 0, True)

    world.control("mailchimp", "/campaigns", id="839488a60b", subject="Spring sale")
    order = world.guest_order(
        "olena@example.com",
        pay=True,
        meta_data=CAMPAIGN,
        coupon_lines=[{"code": "spring10", "discount": "5.00"}],
    )
    world.settle()

    assert world.dead_letters() == []
    [mc_order] = world.store_items("orders").values()
    assert mc_order["id"] == f"woocommerce-{order['id']}"
    assert mc_order["campaign_id"] == "839488a60b"
    assert mc_order["landing_site"] == "https://shop.example/?mc_cid=839488a60b"
    assert mc_order["promos"] == [
        {"code": "spring10", "amount_discounted": 5, "type": "percentage"}
    ]
    [deal] = world.deals()
    assert deal["UF_CRM_COUPONS"] == "spring10"
    assert deal["UF_CRM_MC_CAMPAIGN"] == "839488a60b"
    assert deal["UF_CRM_LANDING_SITE"] == "https://shop.example/?mc_cid=839488a60b"
    assert (deal["UTM_SOURCE"], deal["UTM_MEDIUM"], deal["UTM_CAMPAIGN"]) == (
        "mailchimp",
        "email",
        "spring",
    )
    # the order used the code up (usage_limit 1): Mailchimp's code says so
    code = world.promo_code(rule_id)
    assert (code["usage_count"], code["enabled"]) == (1, False)


def test_an_order_naming_a_campaign_mailchimp_does_not_know_still_reaches_it(world):
    # the campaign was deleted, or the link came from another audience's email: Mailchimp
    # refuses the id (400), so the order goes without it; the deal still names it
    world.guest_order("ivan@example.com", pay=True, meta_data=CAMPAIGN[:2])
    world.settle()

    assert world.dead_letters() == []
    [mc_order] = world.store_items("orders").values()
    assert mc_order["campaign_id"] == ""  # Mailchimp's own value for none
    assert mc_order["landing_site"] == "https://shop.example/?mc_cid=839488a60b"
    assert world.deals()[0]["UF_CRM_MC_CAMPAIGN"] == "839488a60b"
