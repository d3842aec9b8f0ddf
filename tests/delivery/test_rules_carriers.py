"""The rules know carriers only through the registry: the names `carrier:` takes, each carrier's
own key (checked by the carrier), and when a cancelled order cancels its parcel."""

from __future__ import annotations

from pathlib import Path

from connector.delivery.rules import SHIPPED_RULES, check_rules_file, load_rules
from connector.mapping.errors import format_error


def problems(tmp_path: Path, text: str, carriers: tuple[str, ...] | None = None) -> list[str]:
    path = tmp_path / "delivery.yaml"
    path.write_text(text, encoding="utf-8")
    return [format_error(e).split(":", 1)[1] for e in check_rules_file(str(path), carriers)[1]]


def test_a_carrier_checks_its_own_key_of_the_rules(tmp_path: Path):
    text = "delivery:\n  default: cdek\n  cdek:\n    tariff_code: express\n"
    assert problems(tmp_path, text) == [
        "4: cdek.tariff_code: must be a CDEK tariff number, e.g. 136"
    ]


def test_the_carrier_names_are_those_the_registry_declares(tmp_path: Path):
    text = "delivery:\n  default: parcelco\n  parcelco: {service: next-day}\n"
    assert problems(tmp_path, text, ("cdek", "parcelco")) == []
    assert sorted(problems(tmp_path, text)) == [
        "2: default: unknown value 'parcelco'; one of cdek, novaposhta, none",
        "3: parcelco: unknown key 'parcelco' (did you mean 'parcel'?)",
    ]


def test_a_cancelled_order_cancels_a_parcel_not_yet_handed_over_by_default(tmp_path: Path):
    shipped = load_rules(SHIPPED_RULES)
    assert shipped.cancel_statuses == {"cancelled"} and shipped.cancel_states == {"created"}
    text = (
        "delivery:\n  cancel_shipment:\n    order_statuses: [cancelled, refundd]\n"
        "    states: [created, acepted]\n"
    )
    assert problems(tmp_path, text) == [
        "3: cancel_shipment.order_statuses[1]: unknown value 'refundd' (did you mean "
        "'refunded'?); one of pending, processing, on-hold, shipped, delivered, completed, "
        "cancelled, refunded, failed",
        "4: cancel_shipment.states[1]: unknown value 'acepted' (did you mean 'accepted'?); one "
        "of created, accepted, in_transit, arrived_at_pickup, out_for_delivery, delivered, "
        "returning, returned, lost, cancelled",
    ]
