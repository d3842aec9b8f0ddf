"""A POS or custom-shop line that knows only its SKU still names a product in Mailchimp."""

from __future__ import annotations

from pathlib import Path

from connector.mapping import MappingSet

MAPPINGS = Path(__file__).parents[2] / "mappings"


def test_sku_stands_in_for_the_product_and_variant_of_mailchimp_lines():
    mappings = MappingSet.load(MAPPINGS)
    canonical = {
        "id": "pos-17",
        "currency": "EUR",
        "total": "12.00",
        "lines": [{"sku": "TEA-1", "quantity": 2, "price": "6.00"}],
    }
    for entity in ("order", "cart"):
        [line] = mappings.get("mailchimp", entity).to_system(canonical)["lines"]
        assert line["product_id"] == "TEA-1" and line["product_variant_id"] == "TEA-1"
    with_product = {**canonical, "lines": [{"sku": "TEA-1", "product_id": "34", "quantity": 1}]}
    [line] = mappings.get("mailchimp", "order").to_system(with_product)["lines"]
    assert line["product_id"] == "34"
