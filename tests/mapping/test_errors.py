"""Every problem in a mapping file is reported with file, line and field, all of them in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import MappingError
from connector.mapping import MappingErrors, MappingSet, format_error

STAGES = """
    value_map: deal_stage
    canonical_values: order_status
    pairs:
      pending: NEW
      completed: WON
    unmapped:
      in: error
      out: {use: NEW}
"""

CONTACT = """
    system: bitrix24
    entity: contact
    canonical: customer
    fields:
      - canonical: email
        system: EMAIL[VALUE_TYPE=WORK].VALUE
        transforms: [email]
      - canonical: phone
        system: PHONE[VALUE_TYPE=WORK].VALUE
        transforms: [trim, phone]
"""


def problems(directory: Path) -> list[str]:
    _, errors = MappingSet.check(directory)
    return [format_error(e) for e in errors]


def only_problem(directory: Path) -> str:
    found = problems(directory)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_folder_has_no_problems(write_mappings) -> None:
    folder = write_mappings({"bitrix24/contact.yaml": CONTACT, "bitrix24/stage_map.yaml": STAGES})
    assert problems(folder) == []


def test_unknown_transform_names_file_line_field_and_the_nearest_name(write_mappings) -> None:
    folder = write_mappings(
        {"bitrix24/contact.yaml": CONTACT.replace("[trim, phone]", "[trim, phnoe]")}
    )
    assert only_problem(folder).endswith(
        "bitrix24/contact.yaml:10: phone: unknown transform 'phnoe' (did you mean 'phone'?)"
    )


def test_transform_on_its_own_line_points_at_that_line(write_mappings) -> None:
    text = CONTACT.replace(
        "transforms: [trim, phone]", "transforms:\n          - trim\n          - lowr"
    )
    folder = write_mappings({"bitrix24/contact.yaml": text})
    assert only_problem(folder).endswith(
        "contact.yaml:12: phone: unknown transform 'lowr' (did you mean 'lower'?)"
    )


def test_unknown_key_suggests_the_valid_key(write_mappings) -> None:
    folder = write_mappings(
        {"bitrix24/contact.yaml": CONTACT.replace("transforms: [email]", "tranforms: [email]")}
    )
    assert only_problem(folder).endswith(
        "contact.yaml:7: email: unknown key 'tranforms' (did you mean 'transforms'?)"
    )


def test_missing_required_key(write_mappings) -> None:
    folder = write_mappings({"bitrix24/contact.yaml": CONTACT.replace("    entity: contact\n", "")})
    assert "missing required key 'entity'" in only_problem(folder)


def test_bad_direction_value(write_mappings) -> None:
    text = CONTACT.replace("transforms: [email]", "transforms: [email]\n        direction: inbound")
    message = only_problem(write_mappings({"bitrix24/contact.yaml": text}))
    assert "contact.yaml:8: email: direction: Must be one of: in, out, both." in message


def test_unknown_canonical_field_suggests_the_field(write_mappings) -> None:
    folder = write_mappings(
        {"bitrix24/contact.yaml": CONTACT.replace("canonical: email", "canonical: emial")}
    )
    assert only_problem(folder).endswith(
        "contact.yaml:5: emial: unknown customer field 'emial' (did you mean 'email'?)"
    )


def test_unknown_line_field(write_mappings) -> None:
    text = """
        system: shop
        entity: order
        fields:
          - {canonical: "lines[].qty", system: "lines[].qty"}
    """
    message = only_problem(write_mappings({"shop/order.yaml": text}))
    assert (
        "order.yaml:4: lines[].qty: unknown line field 'qty' (did you mean 'quantity'?)" in message
    )


def test_unknown_value_map(write_mappings) -> None:
    text = """
        system: bitrix24
        entity: deal
        canonical: order
        fields:
          - {canonical: status, system: STAGE_ID, transforms: [{map: deal_stages}]}
    """
    folder = write_mappings({"bitrix24/deal.yaml": text, "bitrix24/stage_map.yaml": STAGES})
    assert only_problem(folder).endswith(
        "deal.yaml:5: status: map: no value map 'deal_stages' for bitrix24 "
        "(did you mean 'deal_stage'?)"
    )


def test_one_way_transform_in_a_both_field(write_mappings) -> None:
    text = """
        system: pos
        entity: order
        fields:
          - {canonical: total, system: "rows[].total", transforms: [money, sum]}
    """
    message = only_problem(write_mappings({"pos/order.yaml": text}))
    assert "transform 'sum' only works coming in; use direction: in" in message


def test_missing_path_for_the_direction(write_mappings) -> None:
    text = """
        system: shop
        entity: customer
        fields:
          - {canonical: email}
    """
    assert "direction 'both' needs a 'system' path" in only_problem(
        write_mappings({"shop/customer.yaml": text})
    )


def test_bad_path_syntax(write_mappings) -> None:
    text = """
        system: shop
        entity: customer
        fields:
          - {canonical: email, system: "emails[primary].value"}
    """
    message = only_problem(write_mappings({"shop/customer.yaml": text}))
    assert "bad selector [primary]" in message


def test_yaml_syntax_error_names_the_line(write_mappings) -> None:
    folder = write_mappings(
        {"shop/customer.yaml": "system: shop\nentity: customer\nfields: [\n  {a: 1\n"}
    )
    message = only_problem(folder)
    assert "customer.yaml:" in message and "YAML syntax" in message


def test_duplicate_key(write_mappings) -> None:
    text = """
        system: shop
        entity: customer
        fields:
          - {canonical: email, system: email}
        entity: order
    """
    assert "customer.yaml:5: entity: duplicate key 'entity'" in only_problem(
        write_mappings({"shop/customer.yaml": text})
    )


def test_undeclared_custom_field(write_mappings) -> None:
    text = CONTACT + "      - {canonical: loyalty_card, system: UF_CRM_CARD}\n"
    text += "    custom_fields:\n      - {name: UF_CRM_CARDS, type: string}\n"
    message = only_problem(write_mappings({"bitrix24/contact.yaml": text}))
    assert (
        "custom field 'UF_CRM_CARD' is not declared under custom_fields "
        "(did you mean 'UF_CRM_CARDS'?)" in message
    )


def test_bad_custom_field_name_and_type(write_mappings) -> None:
    text = """
        system: mailchimp
        entity: member
        canonical: customer
        fields:
          - {canonical: email, system: email_address}
        custom_fields:
          - {name: BONUS_BALANCE_X, type: number}
          - {name: BONUS, type: numbr}
    """
    found = problems(write_mappings({"mailchimp/member.yaml": text}))
    assert any(
        "member.yaml:7: BONUS_BALANCE_X: custom field name 'BONUS_BALANCE_X' must be" in p
        for p in found
    )
    assert any(
        "member.yaml:8: BONUS: unknown mailchimp field type 'numbr' (did you mean 'number'?)" in p
        for p in found
    )


def test_unknown_owner(write_mappings) -> None:
    text = CONTACT.replace("transforms: [email]", "transforms: [email]\n        owner: bitrix")
    message = only_problem(write_mappings({"bitrix24/contact.yaml": text}))
    assert "unknown owner 'bitrix' (did you mean 'bitrix24'?)" in message


def test_unknown_phone_region_and_time_zone(write_mappings) -> None:
    found = problems(
        write_mappings(
            {"defaults.yaml": "defaults:\n  phone_region: UK\n  timezone: Europe/Kiev2\n"}
        )
    )
    assert any("defaults.yaml:2: phone_region: unknown phone region 'UK'" in p for p in found)
    assert any("defaults.yaml:3: timezone: unknown time zone 'Europe/Kiev2'" in p for p in found)


def test_value_map_stays_within_canonical_values(write_mappings) -> None:
    text = STAGES.replace("completed: WON", "complete: WON")
    message = only_problem(write_mappings({"bitrix24/stage_map.yaml": text}))
    assert (
        "stage_map.yaml:5: deal_stage: 'complete' is not a canonical order_status value "
        "(did you mean 'completed'?)" in message
    )


def test_value_map_needs_an_explicit_unmapped_rule(write_mappings) -> None:
    text = STAGES.replace("out: {use: NEW}", "out: fallback")
    message = only_problem(write_mappings({"bitrix24/stage_map.yaml": text}))
    assert "must be 'error', 'keep' or {use: VALUE}" in message


def test_system_must_match_its_folder(write_mappings) -> None:
    folder = write_mappings({"mailchimp/contact.yaml": CONTACT})
    assert "system 'bitrix24' does not match its folder 'mailchimp'" in only_problem(folder)


def test_all_errors_of_all_files_come_in_one_run(write_mappings) -> None:
    folder = write_mappings(
        {
            "bitrix24/contact.yaml": CONTACT.replace("phone]", "phnoe]").replace(
                "canonical: email", "canonical: emial"
            ),
            "bitrix24/stage_map.yaml": STAGES.replace("completed", "complete"),
            "shop/customer.yaml": "system: shop\nentity: customer\nfields: []\n",
        }
    )
    with pytest.raises(MappingErrors) as caught:
        MappingSet.load(folder)
    files = sorted({Path(e.file).name for e in caught.value.errors})
    assert len(caught.value.errors) == 4  # phnoe, emial, complete, empty fields
    assert files == ["contact.yaml", "customer.yaml", "stage_map.yaml"]
    assert "4 problems in mapping files" in str(caught.value)
    assert all(isinstance(e, MappingError) and e.line for e in caught.value.errors)


def test_unmapped_value_at_run_time_names_file_line_and_field(shipped) -> None:
    deal = shipped.get("bitrix24", "deal")
    with pytest.raises(MappingError) as caught:
        deal.to_canonical({"STAGE_ID": "UC_CUSTOM1"})
    error = caught.value
    assert error.file.endswith("bitrix24/deal.yaml") and error.field == "status"
    assert (
        error.line
        and "no entry for 'UC_CUSTOM1' from the system in value map 'deal_stage'" in str(error)
    )


def test_bad_value_at_run_time_names_the_field(shipped) -> None:
    with pytest.raises(
        MappingError, match=r"woocommerce/order.yaml:\d+: total: system -> canonical: not a number"
    ):
        shipped.get("woocommerce", "order").to_canonical({"total": "lots"})


def test_unknown_system_or_entity_suggests_names(shipped) -> None:
    with pytest.raises(
        MappingError, match=r"no mapping bitrix24/contacts \(did you mean 'contact'\?\)"
    ):
        shipped.get("bitrix24", "contacts")
    with pytest.raises(
        MappingError, match=r"no mappings for system 'bitrix' \(did you mean 'bitrix24'\?\)"
    ):
        shipped.get("bitrix", "contact")
    with pytest.raises(MappingError, match=r"did you mean 'deal_stage'"):
        shipped.value_map("bitrix24", "stage")


def test_the_loyalty_rules_file_is_checked_in_the_same_run(write_mappings) -> None:
    folder = write_mappings(
        {
            "loyalty.yaml": "loyalty:\n  accrual:\n    percnt: 5\n",
            "shop/customer.yaml": "system: shop\nentity: customer\nfields: []\n",
        }
    )
    found = problems(folder)
    assert any("loyalty.yaml:3" in p and "percnt" in p for p in found), found
    assert any("customer.yaml" in p for p in found)
    valid = write_mappings({"loyalty.yaml": "loyalty:\n  accrual:\n    percent: 5\n"})
    assert not any("loyalty.yaml" in p for p in problems(valid))
