"""REST methods of the sandbox portal, one module per family; ``method_table`` maps them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def method_table() -> dict[str, Callable[[Any], Any]]:
    """Every emulated method by its lower-case name."""
    from . import batch, crm_misc, entities, events, items, products, system, userfields

    table: dict[str, Callable[[Any], Any]] = {}
    for module in (entities, items, userfields, crm_misc, events, batch, system, products):
        table.update(module.methods())
    return table
