"""Promo codes (issue 17): shop coupons become Mailchimp promo rules and codes, kept in step as the
coupon is edited, used up, expires or is deleted; an order names its coupons' types."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import responses
from sqlalchemy import select

from connector.errors import MappingError
from connector.mapping import MappingSet
from connector.promo.coupons import refresh_usage, usable, with_promo_types
from connector.promo.push import expire_promos, mailchimp_terms
from connector.services import Services
from connector.store.tables import promo_codes, tasks
from connector.tasks import TaskContext
from connector.worker import Worker
from tests.support import make_settings

SHOP = "https://shop.test"
WC = SHOP + "/wp-json/wc/v3"
MC = "https://us6.api.mailchimp.test/3.0"
STORE = "promo-store"
RULES = f"{MC}/ecommerce/stores/{STORE}/promo-rules"
NOW = 1_800_000_000.0  # 2027-01-15
SPEC = Path(__file__).resolve().parents[2] / "specs" / "woocommerce" / "coupon.json"
MAPPINGS = MappingSet.load(Path(__file__).resolve().parents[2] / "mappings")


def woo_coupon(**changes: Any) -> dict[str, Any]:
    """The documented coupon (specs/woocommerce/coupon.json: 10 % off, code 10off)."""
    coupon = json.loads(SPEC.read_text())
    return coupon | changes


def canonical(**changes: Any) -> dict[str, Any]:
    return MAPPINGS.get("woocommerce", "coupon").to_canonical(woo_coupon(**changes))


class FakeMailchimp:
    """Promo rules and codes as Mailchimp keeps them: PATCH on a missing one is a 404."""

    def __init__(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []

    def install(self, mocked: responses.RequestsMock) -> None:
        rule = re.compile(rf"{re.escape(RULES)}/([^/]+)$")
        code = re.compile(rf"{re.escape(RULES)}/([^/]+)/promo-codes/([^/]+)$")
        codes = re.compile(rf"{re.escape(RULES)}/([^/]+)/promo-codes$")
        mocked.add_callback(responses.PATCH, rule, callback=self.patch(rule, self.rules))
        mocked.add_callback(responses.PATCH, code, callback=self.patch(code, self.codes, 2))
        mocked.add_callback(responses.POST, RULES, callback=self.post(self.rules))
        mocked.add_callback(responses.POST, codes, callback=self.post(self.codes))

    def patch(self, pattern: re.Pattern, kept: dict, group: int = 1) -> Any:
        def answer(request: Any) -> tuple[int, dict, str]:
            item_id = pattern.match(request.url).group(group)
            self.writes.append(("PATCH", item_id))
            if item_id not in kept:
                return 404, {}, json.dumps({"status": 404, "title": "Resource Not Found"})
            kept[item_id].update(json.loads(request.body))
            return 200, {}, json.dumps(kept[item_id])

        return answer

    def post(self, kept: dict) -> Any:
        def answer(request: Any) -> tuple[int, dict, str]:
            body = json.loads(request.body)
            self.writes.append(("POST", body["id"]))
            kept[body["id"]] = body
            return 200, {}, json.dumps(body)

        return answer


@pytest.fixture
def world(tmp_path: Path):
    settings = make_settings(
        tmp_path,
        woocommerce_url=SHOP,
        woocommerce_key="ck_test",
        woocommerce_secret="cs_test",
        mailchimp_api_key="0123456789abcdef0123456789abcdef-us6",
        mailchimp_base_url=MC,
        mailchimp_store_id=STORE,
        queue_backoff_base=0.01,
        queue_backoff_max=0.05,
    )
    services = Services(settings)
    clock = SimpleNamespace(now=NOW)
    services.queue.clock = lambda: clock.now
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mailchimp = FakeMailchimp()
        mailchimp.install(mocked)
        shop: dict[int, dict[str, Any]] = {719: woo_coupon()}
        mocked.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(WC)}/coupons/(\d+)"),
            callback=lambda request: (
                (200, {}, json.dumps(shop[int(request.url.rsplit("/", 1)[-1].split("?")[0])]))
                if int(request.url.rsplit("/", 1)[-1].split("?")[0]) in shop
                else (404, {}, json.dumps({"code": "woocommerce_rest_shop_coupon_invalid_id"}))
            ),
        )
        mocked.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(WC)}/coupons(\?.*)?$"),
            callback=lambda request: (200, {}, json.dumps(list(shop.values()))),
        )
        yield SimpleNamespace(
            services=services,
            clock=clock,
            mailchimp=mailchimp,
            shop=shop,
            worker=Worker(services, threads=1, name="promo"),
        )
    services.close()


def webhook(world: Any, coupon_id: int = 719, event: str = "updated") -> None:
    """What the route stores for a `coupon.<event>` delivery, then the worker runs it all."""
    world.services.queue.enqueue(
        "woocommerce.coupon", {"id": coupon_id, "topic": f"coupon.{event}", "event": event}
    )
    world.worker.run_until_idle(timeout=10)


def edit(world: Any, **changes: Any) -> None:
    """The shop owner saves the coupon: WooCommerce moves its modification time on."""
    coupon = world.shop[719]
    world.clock.now += 60
    modified = dt.datetime.fromtimestamp(world.clock.now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    coupon.update(changes, date_modified_gmt=modified)


def ctx(services: Services) -> TaskContext:
    task = SimpleNamespace(id=1, enqueued_at=NOW, attempts=1)
    return TaskContext(task=task, services=services)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the mapping


def test_a_percent_coupon_is_a_percentage_rule_of_a_fraction_with_the_shop_url_to_redeem() -> None:
    terms = mailchimp_terms(canonical() | {"id": "woocommerce-719"}, NOW, SHOP)
    rule = MAPPINGS.get("mailchimp", "promo_rule").to_system(terms)
    code = MAPPINGS.get("mailchimp", "promo_code").to_system(terms)
    assert rule["id"] == "woocommerce-719" and rule["type"] == "percentage"
    assert rule["amount"] == 0.1 and rule["target"] == "total"  # Mailchimp: 0.0-1.0
    assert rule["description"] == "10off" and rule["enabled"] is True  # no description: the code
    assert code == code | {
        "id": "woocommerce-719",
        "code": "10off",
        "redemption_url": "https://shop.test/?coupon=10off",
        "usage_count": 0,
        "enabled": True,
    }


def test_fixed_product_and_free_shipping_coupons_keep_their_money_and_target() -> None:
    per_item = mailchimp_terms(canonical(discount_type="fixed_product", amount="5.50"), NOW, SHOP)
    assert (per_item["type"], per_item["target"], per_item["amount"]) == (
        "fixed",
        "per_item",
        Decimal("5.50"),
    )
    shipping = mailchimp_terms(canonical(amount="0", free_shipping=True), NOW, SHOP)
    assert (shipping["type"], shipping["target"], shipping["amount"]) == ("fixed", "shipping", 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": ""}, "code: missing"),
        ({"code": "x" * 51}, "code: longer than Mailchimp's 50"),
        ({"amount": "150"}, "amount: 150.00 is not 0-100 %"),
    ],
)
def test_a_coupon_mailchimp_cannot_hold_is_refused_naming_the_field(changes, field) -> None:
    with pytest.raises(MappingError, match=re.escape(f"coupon 719: {field}")):
        mailchimp_terms(canonical(**changes), NOW, SHOP)


def test_an_unknown_discount_type_names_the_file_and_the_value() -> None:
    with pytest.raises(MappingError, match=r"coupon.yaml:10: .*'bogo'.*coupon_type.yaml"):
        canonical(discount_type="bogo")


def test_a_code_is_usable_until_it_expires_is_used_up_or_deleted() -> None:
    coupon = canonical(usage_limit=3, usage_count=2, date_expires_gmt="2027-01-16T00:00:00")
    assert usable(coupon, NOW)
    assert not usable(coupon | {"usage_count": 3}, NOW)
    assert not usable(coupon, NOW + 86400)
    assert not usable(coupon | {"custom": {"deleted": True}}, NOW)


# --------------------------------------------------------------------------- the flow


def test_a_shop_coupon_becomes_one_rule_and_code_and_is_not_written_again_unchanged(world):
    webhook(world)

    assert world.mailchimp.rules["woocommerce-719"]["amount"] == 0.1
    assert world.mailchimp.codes["woocommerce-719"]["code"] == "10off"
    first = list(world.mailchimp.writes)
    assert first == [
        ("PATCH", "woocommerce-719"),  # unknown: 404, then created
        ("POST", "woocommerce-719"),
        ("PATCH", "woocommerce-719"),
        ("POST", "woocommerce-719"),
    ]

    webhook(world)  # the same coupon again (a repeated delivery or the poll)
    assert world.mailchimp.writes == first
    assert world.services.queue.dead_letters() == []


def test_a_coupon_edited_used_up_expired_or_deleted_updates_its_code(world):
    webhook(world)
    edit(world, amount="15.00", usage_limit=2, usage_count=1)
    webhook(world)
    assert world.mailchimp.rules["woocommerce-719"]["amount"] == 0.15
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is True

    edit(world, usage_count=2)  # the second use: the limit is reached
    webhook(world)
    assert (
        world.mailchimp.codes["woocommerce-719"] | {"usage_count": 2, "enabled": False}
        == (world.mailchimp.codes["woocommerce-719"])
    )

    edit(world, usage_limit=None, date_expires_gmt="2027-01-16T00:00:00")
    webhook(world)
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is True
    world.clock.now += 86400  # no shop says when a coupon expires: the sweep does
    expire_promos(ctx(world.services), {})
    world.worker.run_until_idle(timeout=10)
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is False
    assert world.mailchimp.rules["woocommerce-719"]["enabled"] is False

    edit(world, date_expires_gmt=None)
    webhook(world)
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is True
    del world.shop[719]
    webhook(world, event="deleted")
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is False
    with world.services.engine.connect() as connection:
        row = connection.execute(select(promo_codes)).one()
    assert (row.deleted, row.enabled, row.code_key) == (1, 0, "10off")
    assert world.services.queue.dead_letters() == []


def test_a_coupon_the_shop_no_longer_has_is_disabled_when_read_again(world):
    webhook(world)
    del world.shop[719]
    webhook(world)  # the poll or an order re-reads it: 404
    assert world.mailchimp.codes["woocommerce-719"]["enabled"] is False


def test_an_order_types_its_promos_by_their_coupon_and_rereads_them_once(world):
    webhook(world)
    order = {
        "id": "woocommerce-5",
        "status": "processing",
        "coupons": ["10OFF", "unknown"],
        "custom": {"promos": [{"code": "10OFF", "amount": "9.00"}, {"code": "unknown"}]},
    }
    promos = with_promo_types(world.services.engine, order)["custom"]["promos"]
    assert promos == [
        {"code": "10OFF", "amount": Decimal("9.00"), "type": "percentage"},
        {"code": "unknown", "amount": Decimal(0), "type": "fixed"},
    ]
    body = MAPPINGS.get("mailchimp", "order").to_system({"custom": {"promos": promos}})
    assert body["promos"][0] == {"code": "10OFF", "amount_discounted": 9, "type": "percentage"}

    assert refresh_usage(ctx(world.services), order) == 1  # only the code the shop has
    assert refresh_usage(ctx(world.services), order) == 1
    with world.services.engine.connect() as connection:
        kinds = connection.execute(
            select(tasks.c.kind, tasks.c.payload).where(tasks.c.state == "queued")
        ).all()
    assert [(k, json.loads(p) if isinstance(p, str) else p) for k, p in kinds] == [
        ("woocommerce.coupon", {"id": "719", "via": "order"})
    ]
    world.shop[719] = copy.deepcopy(world.shop[719]) | {"usage_count": 1}
    edit(world)
    world.worker.run_until_idle(timeout=10)
    assert world.mailchimp.codes["woocommerce-719"]["usage_count"] == 1


# --------------------------------------------------------------------------- in


def test_the_coupon_poll_queues_a_fresh_read_of_each_coupon_changed(world):
    from connector.systems.woocommerce.coupons import coupon_stream

    stream = world.services.systems.get("woocommerce").streams["coupons"]
    assert stream == "connector.systems.woocommerce.coupons:coupon_stream"
    [page] = list(coupon_stream(world.services, {}).pages(None))
    assert [(task.kind, task.payload["id"]) for task in page.tasks] == [("woocommerce.coupon", 719)]
    assert page.bookmark == {"modified": "2017-03-21T18:23:00"}


def test_a_signed_coupon_webhook_is_stored_with_its_task_and_a_bad_id_is_400(tmp_path):
    from connector.app import create_app
    from connector.systems.woocommerce.webhooks import signature

    services = Services(make_settings(tmp_path, woocommerce_webhook_secret="wc-secret"))
    try:
        client = create_app(services).test_client()

        def deliver(coupon: dict[str, Any]) -> Any:
            body = json.dumps(coupon).encode()
            headers = {
                "X-WC-Webhook-Topic": "coupon.updated",
                "X-WC-Webhook-Resource": "coupon",
                "X-WC-Webhook-Event": "updated",
                "X-WC-Webhook-Signature": signature(body, "wc-secret"),
                "Content-Type": "application/json",
            }
            return client.post("/webhooks/woocommerce", data=body, headers=headers)

        assert deliver(woo_coupon()).get_json()["status"] == "accepted"
        refused = deliver(woo_coupon(id="seven"))
        assert refused.status_code == 400 and "id" in refused.get_json()["message"]
        with services.engine.connect() as connection:
            [(kind, payload, key)] = connection.execute(
                select(tasks.c.kind, tasks.c.payload, tasks.c.ordering_key)
            ).all()
        payload = json.loads(payload) if isinstance(payload, str) else payload
        assert (kind, payload["id"], payload["event"], key) == (
            "woocommerce.coupon",
            719,
            "updated",
            "coupon:woocommerce:719",
        )
    finally:
        services.close()


@pytest.mark.parametrize(
    ("meta", "campaign"),
    [
        ([{"key": "_mailchimp_campaign_id", "value": "ours"}], "ours"),  # our WordPress plugin
        ([{"key": "mailchimp_woocommerce_campaign_id", "value": " theirs "}], "theirs"),  # official
        ([], None),
    ],
)
def test_the_order_reads_the_campaign_from_either_plugins_meta(meta, campaign) -> None:
    order = {"id": 5, "status": "processing", "line_items": [], "meta_data": meta}
    found = MAPPINGS.get("woocommerce", "order").to_canonical(order)
    assert (found.get("custom") or {}).get("mailchimp_campaign_id") == campaign
