"""The canonical catalogue: a product with its variants, prices, sale prices with dates and stock
per warehouse. A simple product is its own one variant (same id), as Mailchimp wants it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.identity import fingerprint


def money_text(value: Any) -> str | None:
    """A price as canonical decimal text ("12.5" -> "12.50"); empty stays None."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not a price: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"not a price: {value!r}")
    return str(number.quantize(Decimal("0.01")))


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Variant:
    variant_id: str
    sku: str | None
    name: str
    price: str | None  # the regular price, decimal text
    currency: str
    sale_price: str | None = None
    sale_from: str | None = None  # ISO 8601; empty = already on sale
    sale_to: str | None = None  # ISO 8601; empty = open ended
    stock: int | None = None  # the sum over warehouses; None = stock not tracked
    stock_by_warehouse: dict[str, int] = field(default_factory=dict)
    in_stock: bool = True  # the master's own status (a product can be on backorder)
    image_url: str | None = None
    url: str | None = None

    def price_at(self, now: dt.datetime) -> str | None:
        """The price a customer pays at `now`: the sale price inside its dates, else the regular."""
        if self.sale_price is None:
            return self.price
        start, end = _moment(self.sale_from), _moment(self.sale_to)
        if (start is None or start <= now) and (end is None or now < end):
            return self.sale_price
        return self.price

    def available(self, product_status: str = "active") -> bool:
        """Can be sold: the product is active, the master says in stock, and tracked stock > 0."""
        if product_status != "active" or not self.in_stock:
            return False
        return self.stock is None or self.stock > 0


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    variants: tuple[Variant, ...]
    master: str = "woocommerce"
    status: str = "active"  # active | deleted | draft
    description: str | None = None
    url: str | None = None
    image_url: str | None = None
    modified: str | None = None  # the master's modification time (ISO 8601)

    @property
    def available(self) -> bool:
        return any(variant.available(self.status) for variant in self.variants)

    def fingerprint(self) -> str:
        """What every copy is compared on (the modification time is not part of it)."""
        return fingerprint(
            {
                "name": self.name,
                "status": self.status,
                "description": self.description,
                "url": self.url,
                "image_url": self.image_url,
                "variants": [variant_values(v) for v in self.variants],
            }
        )


def variant_values(variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.variant_id,
        "sku": variant.sku,
        "name": variant.name,
        "price": variant.price,
        "currency": variant.currency,
        "sale_price": variant.sale_price,
        "sale_from": variant.sale_from,
        "sale_to": variant.sale_to,
        "stock": variant.stock,
        "stock_by_warehouse": dict(sorted(variant.stock_by_warehouse.items())),
        "in_stock": variant.in_stock,
        "image_url": variant.image_url,
        "url": variant.url,
    }
