"""One catalogue (issue 17): products, variants, prices and stock read from one master (the shop,
a CSV file or a POS export, `mappings/catalogue.yaml`) and copied to Bitrix24, Mailchimp and the
marketplace's price-list feed. The read API other features use:

    from connector.catalogue import products, variant_by_sku
    for product in products(engine):          # pages, memory flat
        for variant in product.variants:
            variant.sku, variant.price_at(now), variant.stock_by_warehouse, variant.available()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.catalogue.model import Product, Variant, money_text
from connector.catalogue.store import (
    count,
    mark_deleted,
    product,
    products,
    save_product,
    variant_by_sku,
)

if TYPE_CHECKING:
    from connector.tasks import TaskRegistry

__all__ = [
    "Product",
    "Variant",
    "count",
    "mark_deleted",
    "money_text",
    "product",
    "register",
    "products",
    "save_product",
    "variant_by_sku",
]


def register(registry: TaskRegistry) -> None:
    """The catalogue's task kinds (`woocommerce.product` is the shop's, in its declaration)."""
    from connector.catalogue import copies, intake, stock

    registry.register("push.bitrix24.catalogue", copies.push_bitrix24)
    registry.register("push.mailchimp.catalogue", copies.push_mailchimp)
    registry.register("catalogue.read_file", intake.read_file_task)
    registry.register("catalogue.offline_sale", stock.offline_sale)
    registry.register("catalogue.sale_dates", copies.sale_dates)
