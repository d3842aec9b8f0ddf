"""Which country a phone written without `+` belongs to: the record's own, else the region set.

A Russian shop that never opened `mappings/defaults.yaml` must get one contact for
`8 (912) 345-67-89` and `+7 912 345 67 89`; an order from abroad reads its number in its country.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.config import load_settings, mappings_folder
from connector.loyalty.lookup import phone_normaliser
from connector.mapping import MappingSet
from connector.mapping.errors import MappingErrors
from connector.mapping.phones import DEFAULT_REGION, configured_region, normaliser
from tests.mapping.conftest import MAPPINGS


def woo_order(phone: str, billing_country: str = "", shipping_country: str = "") -> dict:
    return {
        "billing": {"phone": phone, "country": billing_country},
        "shipping": {"country": shipping_country},
    }


def test_a_russian_shop_on_the_bundled_defaults_gets_one_phone_for_both_spellings(shipped):
    orders = shipped.get("woocommerce", "order")
    national = orders.to_canonical(woo_order("8 (912) 345-67-89"))["phone"]
    international = orders.to_canonical(woo_order("+7 912 345 67 89"))["phone"]
    assert national == international == "+79123456789"
    assert configured_region(MAPPINGS) == DEFAULT_REGION == "RU"


def test_kazakh_numbers_read_as_plus_seven_under_the_bundled_region(shipped):
    customer = shipped.get("shop", "customer").to_canonical({"phone": "8 701 123 45 67"})
    assert customer["phone"] == "+77011234567"
    assert normaliser("RU")("8 (727) 250-00-00") == "+77272500000"  # Almaty landline


def test_an_order_from_abroad_reads_its_national_number_in_its_own_country(shipped):
    orders = shipped.get("woocommerce", "order")
    assert orders.to_canonical(woo_order("(555) 555-5555", "US"))["phone"] == "+15555555555"
    assert orders.to_canonical(woo_order("067 123 4567", "ua"))["phone"] == "+380671234567"
    # no billing country: the shipping country, then the configured region
    assert orders.to_canonical(woo_order("067 123 4567", "", "UA"))["phone"] == "+380671234567"
    assert orders.to_canonical(woo_order("8 912 345 67 89", "Russia"))["phone"] == "+79123456789"
    customers = shipped.get("woocommerce", "customer")
    customer = customers.to_canonical({"billing": {"phone": "(11) 1111-1111", "country": "BR"}})
    assert customer["phone"] == "+551111111111"


def test_the_shop_contract_reads_the_phone_in_the_delivery_or_address_country(shipped):
    order = shipped.get("shop", "order").to_canonical(
        {"customer": {"phone": "067 123 4567"}, "delivery": {"country": "ua"}}
    )
    assert order["phone"] == "+380671234567"
    customer = shipped.get("shop", "customer").to_canonical(
        {"phone": "067 123 4567", "address": {"country": "UA"}}
    )
    assert customer["phone"] == "+380671234567"


def test_a_number_with_plus_ignores_the_country_and_a_region_setting_is_the_fallback(
    write_mappings,
):
    folder = write_mappings(
        {
            "defaults.yaml": "defaults: {phone_region: UA}\n",
            "shop/customer.yaml": """
                system: shop
                entity: customer
                fields:
                  - canonical: phone
                    system: phone
                    transforms: [trim, {phone: {country_from: [address.country, country]}}]
            """,
        }
    )
    mapping = MappingSet.load(folder).get("shop", "customer")
    assert mapping.to_canonical({"phone": " 067 123 4567 "}) == {"phone": "+380671234567"}
    assert mapping.to_canonical({"phone": "8 912 345 67 89", "country": "RU"}) == {
        "phone": "+79123456789"
    }
    assert mapping.to_canonical({"phone": "+1 555 555 5555", "country": "RU"}) == {
        "phone": "+15555555555"
    }
    # translated alone (no record), the value is read in the region
    (rule,) = mapping.rules
    assert rule.in_chain is not None and rule.in_chain("067 123 4567") == "+380671234567"
    assert mapping.to_system({"phone": "+380671234567"}) == {"phone": "+380671234567"}


@pytest.mark.parametrize(
    ("country_from", "message"),
    [
        ("'billing[.country'", "phone: country_from:"),
        ("5", "phone: parameter 'country_from' has the wrong type"),
        ("[]", "phone: country_from must be a path or a list of paths"),
        ("'rows[].country'", "must name one value, not a list"),
    ],
)
def test_a_bad_country_from_is_reported_at_its_file_and_line(write_mappings, country_from, message):
    folder = write_mappings(
        {
            "shop/customer.yaml": f"""
                system: shop
                entity: customer
                fields:
                  - {{canonical: email, system: email, transforms: [email]}}
                  - canonical: phone
                    system: phone
                    transforms: [{{phone: {{country_from: {country_from}}}}}]
            """,
        }
    )
    with pytest.raises(MappingErrors) as caught:
        MappingSet.load(folder)
    (problem,) = caught.value.errors
    assert problem.line == 7 and problem.file.endswith("shop/customer.yaml")
    assert message in str(problem)


def test_country_from_is_refused_on_a_field_inside_lists(write_mappings):
    folder = write_mappings(
        {
            "shop/order.yaml": """
                system: shop
                entity: order
                fields:
                  - canonical: "lines[].custom.phone"
                    system: "lines[].phone"
                    transforms: [{phone: {country_from: country}}]
            """,
        }
    )
    with pytest.raises(MappingErrors, match="works only on fields outside lists"):
        MappingSet.load(folder)


def test_every_command_finds_the_bundled_mappings_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONNECTOR_MAPPINGS_DIR", raising=False)
    settings = load_settings(env={}, env_file=None)
    assert settings.mappings_path == mappings_folder("mappings") == MAPPINGS
    phone_normaliser.cache_clear()
    assert phone_normaliser("mappings")("8 (912) 345-67-89") == "+79123456789"
    (tmp_path / "mappings").mkdir()  # the admin's own folder here wins
    assert mappings_folder("mappings") == Path("mappings")
    assert os.path.isdir(mappings_folder(str(tmp_path / "absent"))) is False
