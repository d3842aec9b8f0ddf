"""One catalogue (issue 17): products, variants, prices and stock read from one master (the shop,
a CSV file or a POS export, `mappings/catalogue.yaml`) and copied to Bitrix24, Mailchimp and the
Kaspi feed. The read API other features use:

    from connector.catalogue import products, variant_by_sku
    for product in products(engine):          # pages, memory flat
        for variant in product.variants:
            variant.sku, variant.price_at(now), variant.stock_by_warehouse, variant.available()
"""

from connector.catalogue.model import Product, Variant, money_text
from connector.catalogue.store import (
    count,
    mark_deleted,
    product,
    products,
    save_product,
    variant_by_sku,
)

__all__ = [
    "Product",
    "Variant",
    "count",
    "mark_deleted",
    "money_text",
    "product",
    "products",
    "save_product",
    "variant_by_sku",
]
