"""docs/mappings.md stays true: it lists every transform and its how-tos give valid mappings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from connector.mapping import MappingSet
from connector.mapping.transforms import registry
from tests.mapping.conftest import MAPPINGS, ROOT

DOC = ROOT / "docs/mappings.md"

PREFERRED_STORE = {
    "woocommerce/customer.yaml": (
        "\nfields:",
        "\n  - {canonical: custom.preferred_store, "
        'system: "meta_data[key=preferred_store].value", transforms: [trim]}',
    ),
    "bitrix24/contact.yaml": (
        "\nfields:",
        "\n  - {canonical: custom.preferred_store, system: UF_CRM_PREFERRED_STORE, "
        "transforms: [trim]}",
    ),
    "mailchimp/member.yaml": (
        "\nfields:",
        "\n  - {canonical: custom.preferred_store, system: merge_fields.STORE, "
        "transforms: [trim], skip_if_empty: true}",
    ),
}
DECLARED = {
    "bitrix24/contact.yaml": "\n  - {name: UF_CRM_PREFERRED_STORE, type: string, label: Store}",
    "mailchimp/member.yaml": "\n  - {name: STORE, type: text, label: Preferred store}",
}


def test_every_transform_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Transforms") : text.index("## Value maps")]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert listed == set(registry())


def _insert_after(path: Path, marker: str, text: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert marker in content, (path, marker)
    path.write_text(content.replace(marker, marker + text, 1), encoding="utf-8")


def _apply_the_how_tos(folder: Path) -> None:
    for name, (marker, text) in PREFERRED_STORE.items():
        _insert_after(folder / name, marker, text)
    for name, text in DECLARED.items():
        _insert_after(folder / name, "\ncustom_fields:", text)
    _insert_after(folder / "woocommerce/order_status.yaml", "\nin:", "\n  awaiting-pickup: shipped")
    stages = folder / "bitrix24/stage_map.yaml"
    text = stages.read_text(encoding="utf-8").replace(
        "  shipped: FINAL_INVOICE", "  shipped: UC_PICKUP"
    )
    stages.write_text(text.replace("\nin:", "\nin:\n  FINAL_INVOICE: shipped", 1), encoding="utf-8")
    defaults = folder / "defaults.yaml"
    text = defaults.read_text(encoding="utf-8").replace("phone_region: RU", "phone_region: UA")
    defaults.write_text(text, encoding="utf-8")


def test_the_how_tos_produce_valid_mappings_that_work(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    _apply_the_how_tos(folder)
    mappings = MappingSet.load(folder)

    customer = mappings.get("woocommerce", "customer").to_canonical(
        {
            "billing": {"phone": "067 123 4567"},
            "meta_data": [{"key": "preferred_store", "value": " Podil "}],
        }
    )
    assert customer == {"phone": "+380671234567", "custom": {"preferred_store": "Podil"}}
    contact = mappings.get("bitrix24", "contact").to_system(customer)
    assert contact["UF_CRM_PREFERRED_STORE"] == "Podil"
    member = mappings.get("mailchimp", "member").to_system(customer)
    assert member["merge_fields"]["STORE"] == "Podil"
    assert "UF_CRM_PREFERRED_STORE" in {f.name for f in mappings.custom_fields("bitrix24")}

    order = mappings.get("woocommerce", "order").to_canonical({"status": "awaiting-pickup"})
    assert order == {"status": "shipped"}
    assert mappings.get("bitrix24", "deal").to_system(order)["STAGE_ID"] == "UC_PICKUP"
    assert mappings.value_map("bitrix24", "deal_stage").to_canonical("FINAL_INVOICE") == "shipped"
