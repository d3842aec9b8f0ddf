"""The Mailchimp copy of the catalogue: e-commerce products and their variants
(`/ecommerce/stores/{store}/products`, research/mailchimp.md 3).

A new product is posted whole with its variants; after that a price or stock change is a PATCH of
the changed variant only (`inventory_quantity` 0 when unavailable: deleted or sold out products
stay, so carts and orders that refer to them keep working), and a change of the product's own
fields (title, URL, image, description) a PATCH of the product.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connector.errors import PermanentError


def _path(store: str, product_id: str) -> str:
    return f"/ecommerce/stores/{store}/products/{product_id}"


def product_body(
    *, product_id: str, title: str, url: str | None, description: str | None, image_url: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": product_id, "title": title}
    if url:
        body["url"] = url
    if description:
        body["description"] = description
    if image_url:
        body["image_url"] = image_url
    return body


def variant_body(
    *,
    variant_id: str,
    title: str,
    sku: str | None,
    price: str | None,
    quantity: int,
    url: str | None,
    image_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": variant_id,
        "title": title,
        "price": float(price) if price is not None else 0.0,
        "inventory_quantity": max(0, quantity),
    }
    if sku:
        body["sku"] = sku
    if url:
        body["url"] = url
    if image_url:
        body["image_url"] = image_url
    return body


def create_product(
    client: Any, store: str, product: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]
) -> Any:
    """POST the product with its variants; when it exists already (an answer lost, or made by an
    order's line first), PATCH it and PUT each variant."""
    body = {**product, "variants": [dict(v) for v in variants]}
    try:
        return client.request("POST", f"/ecommerce/stores/{store}/products", json=body)
    except PermanentError as error:
        if error.status != 400 or "already exists" not in str(error).lower():
            raise
    update_product(client, store, product)
    for variant in variants:
        put_variant(client, store, str(product["id"]), variant)
    return None


def update_product(client: Any, store: str, product: Mapping[str, Any]) -> Any:
    fields = {k: v for k, v in product.items() if k != "id"}
    return client.request("PATCH", _path(store, str(product["id"])), json=fields)


def patch_variant(client: Any, store: str, product_id: str, variant: Mapping[str, Any]) -> Any:
    """PATCH a variant on a price or stock change; PUT it when Mailchimp does not have it."""
    path = f"{_path(store, product_id)}/variants/{variant['id']}"
    fields = {k: v for k, v in variant.items() if k != "id"}
    try:
        return client.request("PATCH", path, json=fields)
    except PermanentError as error:
        if error.status != 404:
            raise
    return put_variant(client, store, product_id, variant)


def put_variant(client: Any, store: str, product_id: str, variant: Mapping[str, Any]) -> Any:
    path = f"{_path(store, product_id)}/variants/{variant['id']}"
    return client.request("PUT", path, json=dict(variant))


def products(client: Any, store: str, count: int = 200) -> Iterator[dict[str, Any]]:
    """Every product of the store with its variants, page by page (memory flat)."""
    fields = ("id", "title", "variants.id", "variants.sku", "variants.price",
              "variants.inventory_quantity")  # fmt: skip
    return client._paged(f"/ecommerce/stores/{store}/products", "products", fields, count)
