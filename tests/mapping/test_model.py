"""Canonical entities convert to and from the dicts mappings produce."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connector.model import ENTITIES, Customer, Order, OrderLine


def test_order_from_and_to_dict_keeps_lines_typed() -> None:
    order = Order.from_dict({"id": "727", "lines": [{"sku": "Bar3", "price": Decimal("12.00")}]})
    assert isinstance(order.lines[0], OrderLine)
    assert order.to_dict(drop_none=True) == {
        "id": "727",
        "lines": [{"sku": "Bar3", "price": Decimal("12.00"), "custom": {}}],
        "coupons": [],
        "custom": {},
    }


def test_unknown_fields_are_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        Customer.from_dict({"emial": "a@b.co"})


def test_json_values_are_coerced_to_their_types() -> None:
    order = Order.from_json_dict(
        {
            "total": "29.35",
            "created_at": "2017-03-22T19:28:02Z",
            "lines": [{"quantity": 2, "price": 3.1}],
        }
    )
    assert order.total == Decimal("29.35")
    assert order.created_at == dt.datetime(2017, 3, 22, 19, 28, 2, tzinfo=dt.UTC)
    assert order.lines[0].price == Decimal("3.1") and order.lines[0].quantity == Decimal(2)
    customer = Customer.from_json_dict({"birthday": "1990-04-17", "marketing_consent": "yes"})
    assert customer.birthday == dt.date(1990, 4, 17) and customer.marketing_consent is True


def test_coerce_json_leaves_absent_fields_absent() -> None:
    assert Order.coerce_json({"total": "1.50"}) == {"total": Decimal("1.50")}


def test_every_entity_is_registered() -> None:
    assert set(ENTITIES) == {
        "customer",
        "order",
        "cart",
        "product",
        "shipment",
        "bonus",
        "coupon",
    }
