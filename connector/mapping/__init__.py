"""Mapping engine: admin-edited files in `mappings/` translate each system to canonical entities.

Public surface for flows, the CLI and setup:

    from connector.mapping import MappingSet, ReloadingMappings
    mappings = MappingSet.load("mappings")             # raises MappingErrors listing every problem
    order = mappings.get("woocommerce", "order").to_canonical(payload)
    deal = mappings.get("bitrix24", "deal").to_system(order, existing=None, creating=True)
    stage = mappings.value_map("bitrix24", "deal_stage").to_system("processing")
    fields = mappings.custom_fields("bitrix24")        # UF_CRM_* fields setup should create
    conflicts = changed_on_both_sides(last_synced, hub_now, system_now)  # for `owner:`
"""

from connector.mapping.engine import CustomField, Mapping, MappingSet, changed_on_both_sides
from connector.mapping.errors import MappingErrors, format_error
from connector.mapping.reload import ReloadingMappings
from connector.mapping.transforms import TransformError
from connector.mapping.value_maps import ValueMap

__all__ = [
    "CustomField",
    "Mapping",
    "MappingErrors",
    "MappingSet",
    "ReloadingMappings",
    "TransformError",
    "ValueMap",
    "changed_on_both_sides",
    "format_error",
]
