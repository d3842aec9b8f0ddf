"""The shop a fresh WooCommerce emulator starts with: the products, customers and orders of the
docs.

Ids and values are those of the official REST API docs examples (specs/woocommerce/*.json), so the
documented requests (an order of products 93 and 22/23, a batch touching orders 727 and 723) work
as shown. ``seed="catalog"`` loads only products; ``seed="docs"`` adds customers 25, 26 and orders
723, 727.
"""

from __future__ import annotations

from typing import Any

PRODUCTS: list[dict[str, Any]] = [
    {
        "id": 22,
        "name": "Ship Your Idea",
        "type": "variable",
        "sku": "",
        "regular_price": "12.00",
        "variations": [
            {
                "id": 23,
                "sku": "Bar3",
                "regular_price": "12.00",
                "attributes": [
                    {"name": "Color", "option": "Black"},
                    {"name": "Size", "option": "M Test"},
                ],
            },
            {
                "id": 24,
                "sku": "Bar4",
                "regular_price": "12.00",
                "attributes": [
                    {"name": "Color", "option": "Green"},
                    {"name": "Size", "option": "S"},
                ],
            },
        ],
    },
    {"id": 34, "name": "Woo Ninja", "sku": "", "regular_price": "20.00"},
    {"id": 79, "name": "Woo Logo", "sku": "", "regular_price": "18.00"},
    {"id": 87, "name": "Woo Album #2", "sku": "", "regular_price": "9.00"},
    {"id": 93, "name": "Woo Single #1", "sku": "", "regular_price": "3.00"},
    {
        "id": 794,
        "name": "Premium Quality",
        "slug": "premium-quality-19",
        "sku": "",
        "regular_price": "21.99",
        "categories": [
            {"id": 9, "name": "Clothing", "slug": "clothing"},
            {"id": 14, "name": "T-shirts", "slug": "t-shirts"},
        ],
    },
]

JOHN = {
    "first_name": "John",
    "last_name": "Doe",
    "company": "",
    "address_1": "969 Market",
    "address_2": "",
    "city": "San Francisco",
    "state": "CA",
    "postcode": "94103",
    "country": "US",
}
JOAO = {
    "first_name": "João",
    "last_name": "Silva",
    "company": "",
    "address_1": "Av. Brasil, 432",
    "address_2": "",
    "city": "Rio de Janeiro",
    "state": "RJ",
    "postcode": "12345-000",
    "country": "BR",
}

CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": 25,
        "email": "john.doe@example.com",
        "first_name": "John",
        "last_name": "Doe",
        "username": "john.doe",
        "billing": JOHN | {"email": "john.doe@example.com", "phone": "(555) 555-5555"},
        "shipping": dict(JOHN),
        "date_created_gmt": "2017-03-21T19:09:28",
    },
    {
        "id": 26,
        "email": "joao.silva@example.com",
        "first_name": "João",
        "last_name": "Silva",
        "username": "joao.silva",
        "billing": JOAO | {"email": "joao.silva@example.com", "phone": "(55) 5555-5555"},
        "shipping": dict(JOAO),
        "date_created_gmt": "2017-03-21T19:11:14",
    },
]

ORDERS: list[dict[str, Any]] = [
    {
        "id": 723,
        "customer_id": 26,
        "status": "completed",
        "created_via": "checkout",
        "billing": JOAO | {"email": "joao.silva@example.com", "phone": "(11) 1111-1111"},
        "shipping": dict(JOAO),
        "payment_method": "bacs",
        "payment_method_title": "Direct bank transfer",
        "line_items": [{"product_id": 87, "quantity": 1}, {"product_id": 34, "quantity": 1}],
        "shipping_lines": [
            {"method_id": "flat_rate:25", "method_title": "Flat rate", "total": "10.00"}
        ],
        "date_created_gmt": "2017-03-21T19:16:00",
    },
    {
        "id": 727,
        "customer_id": 0,
        "status": "processing",
        "created_via": "rest-api",
        "billing": JOHN | {"email": "john.doe@example.com", "phone": "(555) 555-5555"},
        "shipping": dict(JOHN),
        "payment_method": "bacs",
        "payment_method_title": "Direct Bank Transfer",
        "set_paid": True,
        "line_items": [
            {"product_id": 93, "quantity": 2},
            {"product_id": 22, "variation_id": 23, "quantity": 1},
        ],
        "shipping_lines": [
            {"method_id": "flat_rate", "method_title": "Flat Rate", "total": "10.00"}
        ],
        "date_created_gmt": "2017-03-22T19:28:02",
    },
]
