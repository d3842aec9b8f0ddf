"""Golden tests: each default mapping applied to the official example payloads (specs/ in the repo).

Expected results live in `golden/*.json`, reviewed by hand. After an intended change, regenerate
them with `UPDATE_GOLDEN=1 pytest tests/mapping/test_golden.py` and review the diff.
Mailchimp payloads we write are also checked against the request schemas of its OpenAPI file.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.mapping.csv_rows import group_receipts
from connector.model import ENTITIES, ORDER_STATUSES
from tests.mapping.conftest import FIXTURES, SPECS, fixture, spec

GOLDEN = Path(__file__).parent / "golden"


def _plain(value: Any) -> Any:
    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        if isinstance(item, dt.date | dt.datetime):
            return item.isoformat()
        raise TypeError(type(item))

    return json.loads(json.dumps(value, default=default, ensure_ascii=False))


def _nest_form_pairs(pairs: dict[str, str]) -> dict[str, Any]:
    """`data[merges][FNAME]` keys -> nested dicts, as the Mailchimp webhook parser delivers them."""
    nested: dict[str, Any] = {}
    for key, value in pairs.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _rows(payload: dict[str, Any]) -> dict[str, Any]:
    return {"rows": payload["result"]}


# (golden name, system, entity, source payloads)
IN_CASES: list[tuple[str, str, str, Any]] = [
    (
        "woocommerce_customer",
        "woocommerce",
        "customer",
        lambda: [spec("woocommerce/customer.json")],
    ),
    (
        "woocommerce_customers_list",
        "woocommerce",
        "customer",
        lambda: spec("woocommerce/customers.list.json"),
    ),
    ("woocommerce_order", "woocommerce", "order", lambda: [spec("woocommerce/order.json")]),
    (
        "woocommerce_orders_list",
        "woocommerce",
        "order",
        lambda: spec("woocommerce/orders.list.json"),
    ),
    ("woocommerce_product", "woocommerce", "product", lambda: [spec("woocommerce/product.json")]),
    (
        "bitrix24_contact",
        "bitrix24",
        "contact",
        lambda: (
            [spec("bitrix24/responses/crm.contact.get.response.json")["result"]]
            + spec("bitrix24/responses/crm.contact.list.response.json")["result"]
        ),
    ),
    (
        "bitrix24_deal",
        "bitrix24",
        "deal",
        lambda: (
            [spec("bitrix24/responses/crm.deal.get.response.json")["result"]]
            + spec("bitrix24/responses/crm.deal.list.response.json")["result"]
        ),
    ),
    (
        "bitrix24_product_rows",
        "bitrix24",
        "product_rows",
        lambda: [_rows(spec("bitrix24/responses/crm.deal.productrows.get.response.json"))],
    ),
    (
        "mailchimp_member_webhook",
        "mailchimp",
        "member_webhook",
        lambda: (
            [
                spec("mailchimp/webhooks/subscribe.parsed.json"),
                spec("mailchimp/webhooks/unsubscribe.parsed.json"),
            ]
            + [
                _nest_form_pairs(spec(f"mailchimp/webhooks/{name}.pairs.json"))
                for name in ("profile", "upemail", "cleaned")
            ]
        ),
    ),
    (
        "cdek_shipment",
        "cdek",
        "shipment",
        lambda: [
            spec("delivery/cdek/webhook.ORDER_STATUS.json"),
            spec("delivery/cdek/webhook.ORDER_STATUS.city_code.json"),
        ],
    ),
    (
        "novaposhta_shipment",
        "novaposhta",
        "shipment",
        lambda: [
            spec("delivery/novaposhta/getStatusDocuments.response.json")["data"][0],
            spec("delivery/novaposhta/getStatusDocuments.response.without-phone.json")["data"][0],
        ],
    ),
    ("shop_customer", "shop", "customer", lambda: [fixture("shop/customer.json")]),
    ("shop_order", "shop", "order", lambda: [fixture("shop/order.json")]),
    ("shop_cart", "shop", "cart", lambda: [fixture("shop/cart.json")]),
    ("pos_order", "pos", "order", lambda: group_receipts((FIXTURES / "pos/sales.csv").read_text())),
]

# (golden name, source system/entity + payload, target system/entity, creating)
OUT_CASES: list[tuple[str, tuple[str, str], Any, tuple[str, str], bool]] = [
    (
        "bitrix24_contact_create",
        ("woocommerce", "customer"),
        lambda: spec("woocommerce/customer.json"),
        ("bitrix24", "contact"),
        True,
    ),
    (
        "bitrix24_deal_create",
        ("woocommerce", "order"),
        lambda: spec("woocommerce/order.json"),
        ("bitrix24", "deal"),
        True,
    ),
    (
        "bitrix24_product_rows_set",
        ("woocommerce", "order"),
        lambda: spec("woocommerce/order.json"),
        ("bitrix24", "product_rows"),
        False,
    ),
    (
        "mailchimp_member_put",
        ("shop", "customer"),
        lambda: fixture("shop/customer.json"),
        ("mailchimp", "member"),
        True,
    ),
    (
        "mailchimp_customer_put",
        ("woocommerce", "customer"),
        lambda: spec("woocommerce/customer.json"),
        ("mailchimp", "customer"),
        True,
    ),
    (
        "mailchimp_product_post",
        ("woocommerce", "product"),
        lambda: spec("woocommerce/product.json"),
        ("mailchimp", "product"),
        True,
    ),
    (
        "mailchimp_order_post",
        ("woocommerce", "order"),
        lambda: spec("woocommerce/order.json"),
        ("mailchimp", "order"),
        True,
    ),
    (
        "mailchimp_cart_post",
        ("shop", "cart"),
        lambda: fixture("shop/cart.json"),
        ("mailchimp", "cart"),
        True,
    ),
    (
        "woocommerce_customer_update",
        ("bitrix24", "contact"),
        lambda: spec("bitrix24/responses/crm.contact.get.response.json")["result"],
        ("woocommerce", "customer"),
        False,
    ),
    (
        "woocommerce_order_update",
        ("bitrix24", "deal"),
        lambda: spec("bitrix24/responses/crm.deal.get.response.json")["result"],
        ("woocommerce", "order"),
        False,
    ),
]

MAILCHIMP_REQUESTS = {
    "member": ("/lists/{list_id}/members/{subscriber_hash}", "put"),
    "customer": ("/ecommerce/stores/{store_id}/customers/{customer_id}", "put"),
    "product": ("/ecommerce/stores/{store_id}/products", "post"),
    "order": ("/ecommerce/stores/{store_id}/orders", "post"),
    "cart": ("/ecommerce/stores/{store_id}/carts", "post"),
}


def _check_golden(name: str, actual: Any) -> None:
    path = GOLDEN / f"{name}.json"
    actual = _plain(actual)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected


@pytest.mark.parametrize(
    ("name", "system", "entity", "payloads"), IN_CASES, ids=[c[0] for c in IN_CASES]
)
def test_official_payloads_map_to_canonical(shipped, name, system, entity, payloads) -> None:
    mapping = shipped.get(system, entity)
    results = [mapping.to_canonical(payload) for payload in payloads()]
    for result in results:  # every result is a valid canonical entity
        ENTITIES[mapping.canonical].from_dict(result)
    _check_golden(name, results)


@pytest.mark.parametrize(
    ("name", "source", "payload", "target", "creating"), OUT_CASES, ids=[c[0] for c in OUT_CASES]
)
def test_canonical_maps_out_to_each_system(
    shipped, name, source, payload, target, creating
) -> None:
    canonical = shipped.get(*source).to_canonical(payload())
    result = shipped.get(*target).to_system(canonical, creating=creating)
    _check_golden(name, result)
    if target[0] == "mailchimp":
        _mailchimp_validator(*MAILCHIMP_REQUESTS[target[1]]).validate(result)


@functools.cache
def _mailchimp_validator(path: str, method: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    document = SPECS / "mailchimp/marketing-api.json"
    api = json.loads(document.read_text(encoding="utf-8"))
    schema = api["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft4Validator(_strip_openapi(schema))


def _strip_openapi(node: Any) -> Any:
    """OpenAPI 3.0 `nullable`/`example` keys are not JSON Schema draft 4; drop them."""
    if isinstance(node, dict):
        return {
            k: _strip_openapi(v)
            for k, v in node.items()
            if k not in ("example", "nullable", "x-nullable")
        }
    if isinstance(node, list):
        return [_strip_openapi(v) for v in node]
    return node


def test_every_official_deal_stage_has_a_canonical_status(shipped) -> None:
    stages = spec("bitrix24/responses/crm.status.list.DEAL_STAGE.response.json")["result"]
    table = shipped.value_map("bitrix24", "deal_stage")
    mapped = {stage["STATUS_ID"]: table.to_canonical(stage["STATUS_ID"]) for stage in stages}
    assert mapped == {
        "NEW": "pending",
        "PREPARATION": "pending",
        "PREPAYMENT_INVOICE": "on-hold",
        "EXECUTING": "processing",
        "FINAL_INVOICE": "shipped",
        "WON": "completed",
        "LOSE": "cancelled",
        "APOLOGY": "refunded",
    }


def test_every_canonical_status_has_a_deal_stage_and_a_woocommerce_status(shipped) -> None:
    stages = shipped.value_map("bitrix24", "deal_stage")
    woo = shipped.value_map("woocommerce", "order_status")
    assert all(stages.to_system(s) for s in ORDER_STATUSES)
    assert {woo.to_system(s) for s in ORDER_STATUSES} <= {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
    }


def test_cdek_statuses_of_the_official_order_response_are_mapped(shipped) -> None:
    order = spec("delivery/cdek/order.get.response.json")
    entity = order.get("entity", order)
    codes = [s["code"] for s in entity.get("statuses", [])]
    table = shipped.value_map("cdek", "shipment_state")
    assert codes and all(table.to_canonical(c) in ("created", "accepted") for c in codes)
