"""The story of issue 17 on the sandbox: an order placed with a coupon after a click in a Mailchimp
campaign shows both in Mailchimp's order (revenue attributed) and on the Bitrix24 deal."""

from __future__ import annotations

from tests.e2e.conftest import world  # noqa: F401 - the end-to-end world on the sandbox

CAMPAIGN = [
    # what the official "Mailchimp for WooCommerce" plugin (and ours) store from mc_cid/mc_landing
    {"key": "_mailchimp_campaign_id", "value": "839488a60b"},
    {"key": "_mailchimp_landing_site", "value": "https://shop.example/?mc_cid=839488a60b"},
    {"key": "_wc_order_attribution_utm_source", "value": "mailchimp"},
    {"key": "_wc_order_attribution_utm_medium", "value": "email"},
    {"key": "_wc_order_attribution_utm_campaign", "value": "spring"},
]


def test_an_order_with_a_coupon_from_a_campaign_shows_both_in_mailchimp_and_on_the_deal(world):  # noqa: F811
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
    assert mc_order["promos"] == [{"code": "spring10", "amount_discounted": 5, "type": "fixed"}]
    assert mc_order["discount_total"] == 5
    [deal] = world.deals()
    assert deal["UF_CRM_COUPONS"] == "spring10"
    assert deal["UF_CRM_MC_CAMPAIGN"] == "839488a60b"
    assert deal["UF_CRM_LANDING_SITE"] == "https://shop.example/?mc_cid=839488a60b"
    assert (deal["UTM_SOURCE"], deal["UTM_MEDIUM"], deal["UTM_CAMPAIGN"]) == (
        "mailchimp",
        "email",
        "spring",
    )


def test_an_order_naming_a_campaign_mailchimp_does_not_know_still_reaches_it(world):  # noqa: F811
    # the campaign was deleted, or the link came from another audience's email: Mailchimp
    # refuses the id (400), so the order goes without it; the deal still names it
    world.guest_order("ivan@example.com", pay=True, meta_data=CAMPAIGN[:2])
    world.settle()

    assert world.dead_letters() == []
    [mc_order] = world.store_items("orders").values()
    assert mc_order["campaign_id"] == ""  # Mailchimp's own value for none
    assert mc_order["landing_site"] == "https://shop.example/?mc_cid=839488a60b"
    assert world.deals()[0]["UF_CRM_MC_CAMPAIGN"] == "839488a60b"
