"""The generic shop contract's settings (`CONNECTOR_SHOP_*`), read through
`settings.of(ShopSettings)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.config import SystemSettings, setting


@dataclass(frozen=True)
class ShopSettings(SystemSettings):
    prefix: ClassVar[str] = "shop"

    webhook_secret: str | None = setting(
        None, "Standard Webhooks secret (`whsec_...`) of the generic shop contract.", secret=True
    )
    callback_url: str | None = setting(
        None,
        "URL of your site that receives signed `order.updated` and `customer.updated` events "
        "(CRM stage moves, CRM-owned contact fields); signed with the shop webhook secret.",
    )
