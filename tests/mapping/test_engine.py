"""Applying mappings: directions, lines, create-only and empty fields, owners, the public API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.mapping import MappingSet, changed_on_both_sides
from connector.model import Customer, Order
from tests.mapping.conftest import spec

SHOP = """
    system: shop
    entity: order
    fields:
      - {canonical: id, system: id, direction: in, transforms: [str]}
      - {canonical: number, system: ref, direction: out, on_create_only: true}
      - {canonical: note, system: comment, skip_if_empty: true}
      - {canonical: email, system: buyer.email, transforms: [email], owner: shop}
      - {canonical: phone, system: buyer.phone, owner: hub}
      - {canonical: "lines[].sku", system: "items[].code"}
      - {canonical: "lines[].quantity", system: "items[].qty", transforms: [{decimal: number}]}
      - {canonical: "lines[]", system: "items[].unit", direction: out, transforms: [{const: pcs}]}
      - canonical: [first_name, last_name]
        system: buyer.name
        transforms: [split]
"""


@pytest.fixture
def shop(write_mappings):
    return MappingSet.load(write_mappings({"shop/order.yaml": SHOP})).get("shop", "order")


def test_in_maps_only_in_and_both_fields(shop) -> None:
    canonical = shop.to_canonical(
        {"id": 7, "ref": "R7", "buyer": {"email": "A@B.CO", "name": "Ann Lee"}}
    )
    assert canonical == {
        "id": "7",
        "email": "a@b.co",
        "first_name": "Ann",
        "last_name": "Lee",
    }


def test_lines_are_mapped_element_by_element(shop) -> None:
    canonical = shop.to_canonical({"items": [{"code": "A", "qty": 2}, {"code": "B", "qty": "1.5"}]})
    assert canonical["lines"] == [
        {"sku": "A", "quantity": Decimal("2")},
        {"sku": "B", "quantity": Decimal("1.5")},
    ]
    out = shop.to_system(canonical)
    assert out["items"] == [
        {"code": "A", "qty": 2, "unit": "pcs"},
        {"code": "B", "qty": 1.5, "unit": "pcs"},
    ]


def test_on_create_only_and_skip_if_empty(shop) -> None:
    order = {"number": "SO-1", "note": "", "email": "a@b.co"}
    assert "ref" not in shop.to_system(order)
    assert shop.to_system(order, creating=True)["ref"] == "SO-1"
    assert "comment" not in shop.to_system(order)


def test_absent_canonical_fields_are_not_written(shop) -> None:
    assert shop.to_system({"email": "a@b.co"}) == {"buyer": {"email": "a@b.co"}}


def test_owner_decides_conflicts_both_ways(shop) -> None:
    canonical = {"email": "new@b.co", "phone": "+15550001111"}
    # the shop owns email: on a conflict the shop keeps its own value
    assert "email" not in shop.to_system(canonical, conflicts={"email"})["buyer"]
    assert shop.to_system(canonical, conflicts={"phone"})["buyer"]["phone"] == "+15550001111"
    # the hub owns phone: coming in, the shop's phone does not replace the hub's on a conflict
    incoming = {"buyer": {"email": "x@b.co", "phone": "+15550002222"}}
    assert "phone" not in shop.to_canonical(incoming, conflicts={"phone", "email"})
    assert shop.to_canonical(incoming, conflicts={"phone", "email"})["email"] == "x@b.co"
    assert shop.owner_of("phone") == "hub"
    assert shop.owner_of("note") is None


def test_split_field_writes_one_system_value(shop) -> None:
    assert shop.to_system({"first_name": "Ann", "last_name": None})["buyer"]["name"] == "Ann"


def test_entities_in_and_out(shipped) -> None:
    mapping = shipped.get("woocommerce", "order")
    order = mapping.to_entity(spec("woocommerce/order.json"))
    assert isinstance(order, Order)
    assert order.lines[1].sku == "Bar3" and order.total == Decimal("29.35")
    deal = shipped.get("bitrix24", "deal").to_system(order, creating=True)
    assert deal["OPPORTUNITY"] == "29.35" and deal["STAGE_ID"] == "EXECUTING"


def test_bitrix24_update_changes_the_existing_work_phone(shipped) -> None:
    current = spec("bitrix24/responses/crm.contact.get.response.json")["result"]
    contact = shipped.get("bitrix24", "contact")
    update = contact.to_system(
        Customer(phone="+13333333000", email="john@example.work"), existing=current
    )
    assert update["PHONE"] == [
        {"ID": "156", "VALUE_TYPE": "WORK", "VALUE": "+13333333000", "TYPE_ID": "PHONE"}
    ]
    assert update["EMAIL"][0]["ID"] == "159"
    assert "TYPE_ID" not in update  # create-only constants stay out of updates
    created = contact.to_system(Customer(phone="+13333333000"), creating=True)
    assert created["PHONE"] == [{"VALUE_TYPE": "WORK", "VALUE": "+13333333000"}]
    assert created["TYPE_ID"] == "CLIENT"


def test_value_maps_api(shipped) -> None:
    stages = shipped.value_map("bitrix24", "deal_stage")
    assert stages.to_system("processing") == "EXECUTING"
    assert stages.to_system("delivered") == "FINAL_INVOICE"
    assert stages.to_canonical("C1:WON") == "completed"
    assert stages.to_canonical("PREPARATION") == "pending"
    assert shipped.value_map("cdek", "shipment_state").to_canonical("TAKEN_BY_COURIER") == (
        "out_for_delivery"
    )
    assert shipped.value_map("novaposhta", "shipment_state").to_canonical(9) == "delivered"


def test_custom_fields_api(shipped) -> None:
    bitrix = {f.name: f for f in shipped.custom_fields("bitrix24")}
    assert bitrix["UF_CRM_BONUS_BALANCE"].type == "double"
    assert bitrix["UF_CRM_BONUS_BALANCE"].entity == "contact"
    assert bitrix["UF_CRM_ORDER_NUMBER"].entity == "deal"
    merge = {f.name: f.type for f in shipped.custom_fields("mailchimp")}
    assert merge["BONUS"] == "number" and merge["BIRTHDAY"] == "birthday"
    assert {"FNAME", "LNAME", "PHONE"} <= set(merge)


def test_get_by_canonical_name(shipped) -> None:
    assert shipped.get("bitrix24", "customer").entity == "contact"
    assert shipped.get("cdek", "shipment").canonical == "shipment"


def test_conflicts_are_fields_changed_on_both_sides() -> None:
    last = {"first_name": "Ann", "phone": "+1", "email": "a@b.co"}
    hub = {"first_name": "Anna", "phone": "+2", "email": "a@b.co"}
    crm = {"first_name": "Annie", "phone": "+2", "email": "new@b.co"}
    # first_name: both changed, differently; phone: both changed to the same; email: one side
    assert changed_on_both_sides(last, hub, crm) == {"first_name"}
