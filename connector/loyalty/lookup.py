"""Finds the customer a checkout or a support question means, by card, phone or e-mail."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.loyalty.provider import LoyaltyProvider


@functools.lru_cache(maxsize=8)
def phone_normaliser(mappings_dir: str) -> Callable[[str], str]:
    """E.164 for numbers typed without `+`, read in the `phone_region` of the mappings in force
    (`defaults.yaml` of the folder `config.mappings_folder` picks)."""
    from connector.config import mappings_folder
    from connector.mapping.phones import configured_region, normaliser

    return normaliser(configured_region(mappings_folder(mappings_dir)))


def resolve_customer(
    provider: LoyaltyProvider,
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
