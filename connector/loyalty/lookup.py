"""Finds the customer a checkout or a support question means, by card, phone or e-mail."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import yaml


@functools.lru_cache(maxsize=8)
def phone_normaliser(mappings_dir: str) -> Callable[[str], str]:
    """E.164 for numbers typed without `+`, read in the region of `mappings/defaults.yaml`."""
    from connector.mapping.phones import normaliser

    region = "US"
    try:
        with open(os.path.join(mappings_dir, "defaults.yaml"), encoding="utf-8") as handle:
            region = (yaml.safe_load(handle) or {}).get("defaults", {}).get("phone_region", region)
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return normaliser(str(region))


def resolve_customer(
    provider: Any,
    mappings_dir: str | None,
    card: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    customer_id: str | None = None,
) -> str | None:
    """The canonical customer id, or None; a phone is tried as given, then as E.164.

    Raises ValueError when `phone` is not a phone number at all.
    """
    if customer_id:
        return customer_id
    found = provider.find_customer(card=card, phone=phone, email=email)
    if found is None and phone:
        found = provider.find_customer(phone=phone_normaliser(mappings_dir or "mappings")(phone))
    return found
