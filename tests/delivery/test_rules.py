"""Carrier rules: the first matching rule wins, else the default; errors name file:line:field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connector.delivery.rules import (
    SHIPPED_RULES,
    check_rules_file,
    load_rules,
    rules_path,
    weight_of,
)
from connector.errors import MappingError
from connector.mapping.errors import MappingErrors, format_error

RULES = """\
delivery:
  ready_to_ship: {statuses: [processing, on-hold]}
  carriers:
    - name: pickup
      carrier: none
      when: {delivery_type: [local_pickup]}
    - name: heavy to Kyiv
      carrier: cdek
      when: {country: [ua], city: [KYIV, Київ], weight_min: 30}
    - name: Ukraine
      carrier: novaposhta
      when: {country: [UA]}
    - name: light parcels to Kazakhstan
      carrier: cdek
      when: {country: [KZ], weight_max: 5}
  default: none
  parcel: {default_weight_kg: 2}
"""


@pytest.fixture
def rules(tmp_path: Path):
    path = tmp_path / "delivery.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules(str(path))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "delivery.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    return [format_error(e) for e in check_rules_file(write(tmp_path, text))[1]]


@pytest.mark.parametrize(
    ("order", "carrier", "rule"),
    [
        ({"delivery_country": "UA", "delivery_type": "local_pickup"}, "none", "pickup"),
        ({"delivery_country": "UA", "delivery_city": "Kyiv", "delivery_weight": "31"}, "cdek",
         "heavy to Kyiv"),
        ({"delivery_country": "UA", "delivery_city": "київ", "delivery_weight": "31"}, "cdek",
         "heavy to Kyiv"),
        ({"delivery_country": "UA", "delivery_city": "Lviv", "delivery_weight": "31"},
         "novaposhta", "Ukraine"),
        ({"delivery_country": "UA", "delivery_city": "Kyiv"}, "novaposhta", "Ukraine"),
        ({"delivery_country": "kz", "delivery_weight": "5"}, "cdek",
         "light parcels to Kazakhstan"),
        ({"delivery_country": "KZ", "delivery_weight": "5.01"}, "none", "default"),
        ({"delivery_country": "KZ"}, "cdek", "light parcels to Kazakhstan"),  # 2 kg by default
        ({}, "none", "default"),
    ],
)  # fmt: skip
def test_the_first_matching_rule_wins_else_the_default(rules, order, carrier, rule):
    assert rules.choose_carrier(order) == (carrier, rule)


def test_the_ready_statuses_and_parcel_defaults_come_from_the_file(rules):
    assert rules.ready_statuses == {"processing", "on-hold"}
    assert weight_of({}, rules.default_weight_kg) == Decimal("2")
    assert weight_of({"delivery_weight": "0"}, rules.default_weight_kg) == Decimal("2")
    assert weight_of({"delivery_weight": Decimal("0.4")}, rules.default_weight_kg) == Decimal("0.4")


def test_the_shipped_rules_are_valid_and_send_ukraine_to_nova_poshta():
    shipped = load_rules(SHIPPED_RULES)
    assert shipped.choose_carrier({"delivery_country": "UA"})[0] == "novaposhta"
    assert shipped.choose_carrier({"delivery_country": "KZ"})[0] == "cdek"
    assert shipped.choose_carrier({"delivery_country": "UA", "delivery_type": "local_pickup"}) == (
        "none",
        "pickup in the shop",
    )
    assert shipped.member_event("arrived_at_pickup") == "shipment_arrived_at_pickup"
    assert shipped.loyalty_events["delivered"] == "delivered"


def test_the_admins_file_wins_over_the_shipped_one(tmp_path: Path):
    assert rules_path(tmp_path) == SHIPPED_RULES
    write(tmp_path, RULES)
    assert rules_path(tmp_path) == str(tmp_path / "delivery.yaml")


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path):
    text = """\
delivery:
  ready_to_ship: {statuses: [procesing]}
  carriers:
    - carrier: dhl
    - name: no carrier
      when: {country: [UA]}
    - carrier: cdek
      when:
        contry: [RU]
        country: [Russia]
        weight_min: 10
        weight_max: -1
  defualt: cdek
  order_status: {delivered: done}
  member_event_prefix: a_very_long_event_prefix_
"""
    found = problems(tmp_path, text)
    name = str(tmp_path / "delivery.yaml")
    short = found[0].split(":", 1)[0]
    assert short.endswith("delivery.yaml") and Path(short).resolve() == Path(name).resolve()
    tails = sorted(line.split(":", 1)[1] for line in found)
    assert tails == sorted(
        [
            "2: ready_to_ship.statuses[0]: unknown value 'procesing' (did you mean "
            "'processing'?); one of pending, processing, on-hold, shipped, delivered, "
            "completed, cancelled, refunded, failed",
            "4: carriers[0].carrier: unknown value 'dhl'; one of cdek, novaposhta, none",
            "5: carriers[1]: a rule needs `carrier:` (cdek, novaposhta or none)",
            "9: carriers[2].when.contry: unknown key 'contry' (did you mean 'country'?)",
            "10: carriers[2].when.country[0]: 'Russia' is not an ISO country code (UA, KZ)",
            "12: carriers[2].when.weight_max: must be a number of 0 or more, not -1",
            "13: defualt: unknown key 'defualt' (did you mean 'default'?)",
            "14: order_status.delivered: unknown value 'done'; one of pending, processing, "
            "on-hold, shipped, delivered, completed, cancelled, refunded, failed",
            "15: member_event_prefix: must be text of 1-13 characters (Mailchimp event names "
            "have at most 30)",
        ]
    )


def test_a_broken_file_raises_one_error_listing_them_all(tmp_path: Path):
    path = write(tmp_path, "delivery:\n  default: dhl\n  carriers: {cdek: true}\n")
    with pytest.raises(MappingErrors) as raised:
        load_rules(path)
    assert [(e.line, e.field) for e in raised.value.errors] == [(2, "default"), (3, "carriers")]
    assert all(isinstance(e, MappingError) for e in raised.value.errors)


def test_yaml_syntax_errors_and_a_missing_top_key_are_located(tmp_path: Path):
    assert problems(tmp_path, "delivery:\n  carriers: [\n")[0].split(":")[1].isdigit()
    [message] = problems(tmp_path, "carriers: []\n")
    assert message.endswith(":1: a delivery rules file starts with `delivery:`")


def test_a_broken_rules_file_makes_tasks_wait_instead_of_dying(tmp_path: Path):
    from types import SimpleNamespace

    from connector.delivery.rules import rules_for
    from connector.errors import MappingsUnusable, PermanentError

    write(tmp_path, "delivery:\n  carriers:\n    - carrier: dhl\n")
    with pytest.raises(MappingsUnusable) as waited:
        rules_for(SimpleNamespace(mappings_path=tmp_path))
    assert not isinstance(waited.value, PermanentError)  # the queue retries it, never dead
    assert "delivery.yaml" in str(waited.value) and waited.value.problems
