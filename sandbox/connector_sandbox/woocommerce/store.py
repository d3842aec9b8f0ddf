"""The emulated WooCommerce shop in memory: products, customers, orders, refunds, notes, webhooks,
carts.

Records are kept in their REST v3 shape (specs/woocommerce/*.json) without ``_links``; views add
the links. Every change goes through here and reports the webhook topic it fires to ``fire`` (set
by the app), once per change, as WooCommerce does (a created order fires ``order.created`` only,
not also ``updated``). Taxes and coupons are not computed: totals are line totals plus shipping and
fees.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector_sandbox.common import md5_hex, utcnow
from connector_sandbox.woocommerce import catalog

ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
)
PAID_STATUSES = ("processing", "completed")
STATUS_LABELS = {
    "pending": "Pending payment",
    "processing": "Processing",
    "on-hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "failed": "Failed",
    "trash": "Trash",
    "checkout-draft": "Draft",
}
ADDRESS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state")
ADDRESS += ("postcode", "country")

Fire = Callable[[str, dict[str, Any]], None]


class WooError(Exception):
    """A refusal in the WordPress REST shape: ``{code, message, data: {status, ...}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status} | self.data,
        }


def invalid_param(name: str, message: str) -> WooError:
    return WooError(
        400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: message}
    )


def money(value: Any) -> str:
    return str(Decimal(str(value or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def number(value: Decimal) -> int | float:
    """Line item ``price`` is a JSON number in the docs (``3``, ``12``)."""
    return int(value) if value == value.to_integral_value() else float(value)


class ShopState:
    """One shop. Hold ``lock`` while reading or changing anything."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.fire: Fire = lambda topic, record: None
        self.offset = timedelta(hours=float(config.get("utc_offset_hours", 0)))
        self.reset()

    # -- life cycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.products: dict[int, dict[str, Any]] = {}
            self.variations: dict[int, dict[str, Any]] = {}
            self.customers: dict[int, dict[str, Any]] = {}
            self.orders: dict[int, dict[str, Any]] = {}
            self.refunds: dict[int, list[dict[str, Any]]] = {}
            self.notes: dict[int, list[dict[str, Any]]] = {}
            self.webhooks: dict[int, dict[str, Any]] = {}
            self.carts: dict[str, dict[str, Any]] = {}
            self.stock_reduced: set[int] = set()
            self.coupons: dict[int, dict[str, Any]] = {}  # coupons.py
            self.coupons_counted: set[int] = set()
            self._next_id = 1000
            self._next_meta = 20000
            self._next_item = 5000
            self._next_webhook = 1
            self._seed(self.config.get("seed", "catalog"))

    def _seed(self, seed: str) -> None:
        if seed in ("catalog", "docs"):
            quiet = self.fire
            self.fire = lambda topic, record: None
            try:
                for product in catalog.PRODUCTS:
                    self.create_product(deepcopy(product))
                if seed == "docs":
                    for customer in catalog.CUSTOMERS:
                        self.create_customer(deepcopy(customer))
                    for order in catalog.ORDERS:
                        self.create_order(deepcopy(order), created_via=order["created_via"])
            finally:
                self.fire = quiet

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "products": list(self.products.values()),
                    "variations": list(self.variations.values()),
                    "customers": list(self.customers.values()),
                    "orders": list(self.orders.values()),
                    "refunds": self.refunds,
                    "notes": self.notes,
                    "webhooks": list(self.webhooks.values()),
                    "carts": self.carts,
                    "coupons": list(self.coupons.values()),
                }
            )

    # -- ids and dates -----------------------------------------------------------------------------

    def new_id(self, wanted: Any = None) -> int:
        """Posts, users and refunds share one counter; seeds may ask for their documented id."""
        if wanted:
            self._next_id = max(self._next_id, int(wanted) + 1)
            return int(wanted)
        self._next_id += 1
        return self._next_id

    def item_id(self) -> int:
        self._next_item += 1
        return self._next_item

    def dates(self, prefix: str, moment: datetime | None = None) -> dict[str, str]:
        moment = moment or utcnow()
        gmt = moment.replace(microsecond=0, tzinfo=None)
        local = gmt + self.offset
        return {f"{prefix}": local.isoformat(), f"{prefix}_gmt": gmt.isoformat()}

    def _given_dates(self, body: dict[str, Any], prefix: str) -> dict[str, str]:
        given = body.get(f"{prefix}_gmt")
        if given:
            return self.dates(prefix, datetime.fromisoformat(given))
        return self.dates(prefix)

    def _meta(self, current: list[dict[str, Any]], given: list[dict[str, Any]] | None) -> list:
        if not given:
            return current
        for entry in given:
            target = next(
                (m for m in current if m["id"] == entry.get("id") or m["key"] == entry.get("key")),
                None,
            )
            if target is None:
                self._next_meta += 1
                current.append(
                    {"id": self._next_meta, "key": entry["key"], "value": entry["value"]}
                )
            else:
                target["value"] = entry.get("value")
        return current

    # -- products --------------------------------------------------------------------------------

    def product(self, product_id: int) -> dict[str, Any]:
        found = self.products.get(int(product_id))
        if found is None:
            raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return found

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if not body.get("name") and "id" not in body:
                body.setdefault("name", "Product")
            self._check_sku(body.get("sku", ""), None)
            product_id = self.new_id(body.get("id"))
            name = body.get("name", "")
            slug = body.get("slug") or f"{name.lower().replace(' ', '-')}-{product_id}"
            product: dict[str, Any] = {
                "id": product_id,
                "name": name,
                "slug": slug,
                "permalink": f"/product/{slug}/",
                **self.dates("date_created"),
                **self.dates("date_modified"),
                "type": body.get("type", "simple"),
                "status": body.get("status", "publish"),
                "featured": False,
                "catalog_visibility": "visible",
                "description": body.get("description", ""),
                "short_description": body.get("short_description", ""),
                "sku": body.get("sku", ""),
                "price": "",
                "regular_price": body.get("regular_price", ""),
                "sale_price": body.get("sale_price", ""),
                "date_on_sale_from": None,
                "date_on_sale_from_gmt": None,
                "date_on_sale_to": None,
                "date_on_sale_to_gmt": None,
                "price_html": "",
                "on_sale": False,
                "purchasable": True,
                "total_sales": 0,
                "virtual": bool(body.get("virtual", False)),
                "downloadable": bool(body.get("downloadable", False)),
                "downloads": [],
                "download_limit": -1,
                "download_expiry": -1,
                "external_url": "",
                "button_text": "",
                "tax_status": "taxable",
                "tax_class": "",
                "manage_stock": bool(body.get("manage_stock", False)),
                "stock_quantity": body.get("stock_quantity"),
                "stock_status": body.get("stock_status", "instock"),
                "backorders": "no",
                "backorders_allowed": False,
                "backordered": False,
                "sold_individually": False,
                "weight": body.get("weight", ""),
                "dimensions": body.get("dimensions") or {"length": "", "width": "", "height": ""},
                "shipping_required": True,
                "shipping_taxable": True,
                "shipping_class": "",
                "shipping_class_id": 0,
                "reviews_allowed": True,
                "average_rating": "0.00",
                "rating_count": 0,
                "related_ids": [],
                "upsell_ids": [],
                "cross_sell_ids": [],
                "parent_id": 0,
                "purchase_note": "",
                "categories": body.get("categories", []),
                "tags": body.get("tags", []),
                "images": body.get("images", []),
                "attributes": body.get("attributes", []),
                "default_attributes": [],
                "variations": [],
                "grouped_products": [],
                "menu_order": 0,
                "meta_data": self._meta([], body.get("meta_data")),
            }
            for variation in body.get("variations") or []:
                if isinstance(variation, dict):
                    self._add_variation(product, variation)
            _price(product)
            self.products[product_id] = product
            self.fire("product.created", product)
            return product

    def _add_variation(self, product: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        variation_id = self.new_id(body.get("id"))
        variation = {
            "id": variation_id,
            "parent_id": product["id"],
            **self.dates("date_created"),
            **self.dates("date_modified"),
            "sku": body.get("sku", ""),
            "price": "",
            "regular_price": body.get("regular_price", ""),
            "sale_price": body.get("sale_price", ""),
            "on_sale": False,
            "status": "publish",
            "manage_stock": bool(body.get("manage_stock", False)),
            "stock_quantity": body.get("stock_quantity"),
            "stock_status": "instock",
            "attributes": [
                {"id": 0, "name": a["name"], "option": a["option"]}
                for a in body.get("attributes", [])
            ],
            "meta_data": [],
        }
        _price(variation)
        self.variations[variation_id] = variation
        product["variations"].append(variation_id)
        return variation

    def update_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            product = self.product(product_id)
            if "sku" in body:
                self._check_sku(body["sku"], product["id"])
            writable = (
                "name", "slug", "type", "status", "description", "short_description", "sku",
                "regular_price", "sale_price", "virtual", "downloadable", "manage_stock",
                "stock_quantity", "stock_status", "weight", "dimensions", "categories", "tags",
                "images", "attributes",
            )  # fmt: skip
            for name in writable:
                if name in body:
                    product[name] = body[name]
            self._meta(product["meta_data"], body.get("meta_data"))
            _price(product)
            product.update(self.dates("date_modified"))
            self.fire("product.updated", product)
            return product

    def delete_product(self, product_id: int, force: bool) -> dict[str, Any]:
        with self.lock:
            product = self.product(product_id)
            snapshot = deepcopy(product)
            if force:
                del self.products[product["id"]]
            else:
                product["status"] = "trash"
            self.fire("product.deleted", snapshot)
            return snapshot

    def _check_sku(self, sku: str, own_id: int | None) -> None:
        if not sku:
            return
        taken = [p for p in [*self.products.values(), *self.variations.values()] if p["sku"] == sku]
        if any(p["id"] != own_id for p in taken):
            raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.")

    # -- customers -------------------------------------------------------------------------------

    def customer(self, customer_id: int) -> dict[str, Any]:
        found = self.customers.get(int(customer_id))
        if found is None:
            raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
        return found

    def customer_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = (email or "").lower()
        return next((c for c in self.customers.values() if c["email"].lower() == wanted), None)

    def create_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            email = (body.get("email") or "").strip()
            if not email:
                raise WooError(
                    400, "rest_missing_callback_param", "Missing parameter(s): email",
                    params=["email"],
                )  # fmt: skip
            if "@" not in email:
                raise invalid_param("email", "Invalid email address.")
            if self.customer_by_email(email):
                raise WooError(
                    400,
                    "registration-error-email-exists",
                    "An account is already registered with your email address. Please log in.",
                )
            customer_id = self.new_id(body.get("id"))
            created = self._given_dates(body, "date_created")
            customer = {
                "id": customer_id,
                **created,
                "date_modified": created["date_created"],
                "date_modified_gmt": created["date_created_gmt"],
                "email": email,
                "first_name": body.get("first_name", ""),
                "last_name": body.get("last_name", ""),
                "role": "customer",
                "username": body.get("username") or email.split("@")[0],
                "billing": _address(body.get("billing"), billing=True),
                "shipping": _address(body.get("shipping"), billing=False),
                "is_paying_customer": False,
                "avatar_url": f"https://secure.gravatar.com/avatar/{md5_hex(email.lower())}?s=96",
                "meta_data": self._meta([], body.get("meta_data")),
            }
            self.customers[customer_id] = customer
            self.fire("customer.created", customer)
            return customer

    def update_customer(self, customer_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            customer = self.customer(customer_id)
            email = body.get("email")
            if email and email.lower() != customer["email"].lower():
                if self.customer_by_email(email):
                    raise WooError(
                        400,
                        "woocommerce_rest_customer_invalid_email",
                        "Email address is invalid.",
                    )
                customer["email"] = email
            for name in ("first_name", "last_name"):
                if name in body:
                    customer[name] = body[name]
            for part in ("billing", "shipping"):
                if isinstance(body.get(part), dict):
                    customer[part].update(
                        {k: v for k, v in body[part].items() if k in customer[part]}
                    )
            self._meta(customer["meta_data"], body.get("meta_data"))
            customer.update(self.dates("date_modified"))
            self.fire("customer.updated", customer)
            return customer

    def delete_customer(self, customer_id: int, force: bool) -> dict[str, Any]:
        with self.lock:
            customer = self.customer(customer_id)
            if not force:
                raise WooError(
                    501,
                    "woocommerce_rest_trash_not_supported",
                    "Customers do not support trashing.",
                )
            del self.customers[customer["id"]]
            self.fire("customer.deleted", customer)
            return customer

    # -- orders ----------------------------------------------------------------------------------

    def order(self, order_id: int) -> dict[str, Any]:
        found = self.orders.get(int(order_id))
        if found is None:
            raise WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return found

    def create_order(self, body: dict[str, Any], created_via: str = "rest-api") -> dict[str, Any]:
        with self.lock:
            status = body.get("status", "pending")
            _check_status(status)
            customer_id = int(body.get("customer_id") or 0)
            if customer_id and customer_id not in self.customers:
                raise WooError(
                    400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid."
                )
            order_id = self.new_id(body.get("id"))
            created = self._given_dates(body, "date_created")
            order: dict[str, Any] = {
                "id": order_id,
                "parent_id": int(body.get("parent_id") or 0),
                "number": str(order_id),
                "order_key": "wc_order_" + secrets.token_hex(7)[:13],
                "created_via": created_via,
                "version": self.config.get("version", "9.9.5"),
                "status": status,
                "currency": body.get("currency", self.config.get("currency", "USD")),
                **created,
                "date_modified": created["date_created"],
                "date_modified_gmt": created["date_created_gmt"],
                "discount_total": "0.00",
                "discount_tax": "0.00",
                "shipping_total": "0.00",
                "shipping_tax": "0.00",
                "cart_tax": "0.00",
                "total": "0.00",
                "total_tax": "0.00",
                "prices_include_tax": False,
                "customer_id": customer_id,
                "customer_ip_address": body.get("customer_ip_address", ""),
                "customer_user_agent": body.get("customer_user_agent", ""),
                "customer_note": body.get("customer_note", ""),
                "billing": _address(body.get("billing"), billing=True),
                "shipping": _address(body.get("shipping"), billing=False) | {"phone": ""},
                "payment_method": body.get("payment_method", ""),
                "payment_method_title": body.get("payment_method_title", ""),
                "transaction_id": body.get("transaction_id", ""),
                "date_paid": None,
                "date_paid_gmt": None,
                "date_completed": None,
                "date_completed_gmt": None,
                "cart_hash": body.get("cart_hash", ""),
                "meta_data": self._meta([], body.get("meta_data")),
                "line_items": [],
                "tax_lines": [],
                "shipping_lines": [],
                "fee_lines": [],
                "coupon_lines": [],
                "refunds": [],
            }
            order["shipping"].pop("phone")
            self._apply_lines(order, body)
            self._totals(order)
            self.orders[order_id] = order
            if body.get("set_paid"):
                self._pay(order)
            elif status in PAID_STATUSES:
                self._mark_paid(order)
            if status == "completed":
                order.update(self.dates("date_completed"))
            self.fire("order.created", order)
            return order

    def update_order(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            if "customer_id" in body:
                customer_id = int(body["customer_id"] or 0)
                if customer_id and customer_id not in self.customers:
                    raise WooError(
                        400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid."
                    )
                order["customer_id"] = customer_id
            simple = (
                "currency", "customer_note", "payment_method", "payment_method_title",
                "transaction_id", "parent_id",
            )  # fmt: skip
            for name in simple:
                if name in body:
                    order[name] = body[name]
            for part in ("billing", "shipping"):
                if isinstance(body.get(part), dict):
                    order[part].update({k: v for k, v in body[part].items() if k in order[part]})
            self._meta(order["meta_data"], body.get("meta_data"))
            self._apply_lines(order, body)
            self._totals(order)
            if body.get("set_paid"):
                self._pay(order)
            if "status" in body and body["status"] != order["status"]:
                self._set_status(order, body["status"])
            order.update(self.dates("date_modified"))
            self.fire("order.updated", order)
            return order

    def delete_order(self, order_id: int, force: bool) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            snapshot = deepcopy(order)
            if force:
                del self.orders[order["id"]]
            else:
                order["status"] = "trash"
            self.fire("order.deleted", snapshot)
            return snapshot

    def pay_order(self, order_id: int, transaction_id: str = "") -> dict[str, Any]:
        """The shopper paid: as ``payment_complete()`` (processing, date_paid, stock reduced)."""
        with self.lock:
            order = self.order(order_id)
            if transaction_id:
                order["transaction_id"] = transaction_id
            self._pay(order)
            order.update(self.dates("date_modified"))
            self.fire("order.updated", order)
            return order

    def set_order_status(self, order_id: int, status: str, note: str = "") -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            self._set_status(order, status, note)
            order.update(self.dates("date_modified"))
            self.fire("order.updated", order)
            return order

    def _pay(self, order: dict[str, Any]) -> None:
        if order["status"] in ("pending", "failed", "on-hold", "cancelled", "checkout-draft"):
            self._set_status(order, "processing", "Payment complete.")
        self._mark_paid(order)

    def _mark_paid(self, order: dict[str, Any]) -> None:
        if not order["date_paid"]:
            order.update(self.dates("date_paid"))
        if order["customer_id"] in self.customers:
            self.customers[order["customer_id"]]["is_paying_customer"] = True
        self._reduce_stock(order)
        from connector_sandbox.woocommerce.coupons import count_usage

        count_usage(self, order)

    def _set_status(self, order: dict[str, Any], status: str, note: str = "") -> None:
        _check_status(status)
        old = order["status"]
        if old == status:
            return
        order["status"] = status
        if status in PAID_STATUSES:
            self._mark_paid(order)
        if status == "completed" and not order["date_completed"]:
            order.update(self.dates("date_completed"))
        if status in ("cancelled", "refunded", "failed") and order["id"] in self.stock_reduced:
            self._restock(order)
        text = f"Order status changed from {STATUS_LABELS[old]} to {STATUS_LABELS[status]}."
        self.add_note(order["id"], {"note": f"{note} {text}".strip()}, by_user=False, fire=False)

    def _reduce_stock(self, order: dict[str, Any]) -> None:
        if order["id"] in self.stock_reduced:
            return
        self.stock_reduced.add(order["id"])
        self._move_stock(order, -1)

    def _restock(self, order: dict[str, Any]) -> None:
        self.stock_reduced.discard(order["id"])
        self._move_stock(order, +1)

    def _move_stock(self, order: dict[str, Any], sign: int) -> None:
        for line in order["line_items"]:
            target = self.variations.get(line["variation_id"]) or self.products.get(
                line["product_id"]
            )
            if target is None or not target.get("manage_stock"):
                continue
            target["stock_quantity"] = int(target["stock_quantity"] or 0) + sign * line["quantity"]
            target["stock_status"] = "instock" if target["stock_quantity"] > 0 else "outofstock"
            product = self.products.get(line["product_id"])
            if product is not None:
                if sign < 0:
                    product["total_sales"] += line["quantity"]
                product.update(self.dates("date_modified"))
                self.fire("product.updated", product)

    def _apply_lines(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        for given in body.get("line_items") or []:
            self._line_item(order, given)
        for kind in ("shipping_lines", "fee_lines", "coupon_lines"):
            for given in body.get(kind) or []:
                self._other_line(order, kind, given)

    def _line_item(self, order: dict[str, Any], given: dict[str, Any]) -> None:
        items = order["line_items"]
        existing = next((i for i in items if i["id"] == given.get("id")), None)
        if existing is not None and (
            given.get("quantity") == 0 or ("product_id" in given and given["product_id"] is None)
        ):
            items.remove(existing)
            return
        product_id = int(given.get("product_id") or (existing or {}).get("product_id") or 0)
        variation_id = int(given.get("variation_id") or (existing or {}).get("variation_id") or 0)
        product = self.products.get(product_id)
        variation = self.variations.get(variation_id) if variation_id else None
        if product is None and not given.get("name"):
            raise WooError(
                400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid."
            )
        if variation_id and variation is None:
            raise WooError(
                400, "woocommerce_rest_invalid_variation_id", "Variation ID provided is invalid."
            )
        source = variation or product or {}
        quantity = int(given.get("quantity", (existing or {}).get("quantity", 1)))
        price = Decimal(str(given.get("price") or source.get("price") or 0))
        subtotal = Decimal(str(given.get("subtotal") or price * quantity))
        total = Decimal(str(given.get("total") or subtotal))
        name = given.get("name") or (product or {}).get("name", "")
        meta: list[dict[str, Any]] = []
        if variation is not None:
            pairs = [f"{a['name']}: {a['option']}" for a in variation["attributes"]]
            name = f"{name} &ndash; {', '.join(pairs)}"
            for attribute in variation["attributes"]:
                self._next_meta += 1
                key = attribute["name"].lower()
                meta.append({"id": self._next_meta, "key": key, "value": attribute["option"]})
        line = {
            "id": existing["id"] if existing else self.item_id(),
            "name": name,
            "product_id": product_id,
            "variation_id": variation_id,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": money(subtotal),
            "subtotal_tax": "0.00",
            "total": money(total),
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": self._meta(meta, given.get("meta_data")),
            "sku": source.get("sku", ""),
            "price": number(total / quantity if quantity else price),
        }
        if existing is not None:
            existing.update(line)
        else:
            items.append(line)

    def _other_line(self, order: dict[str, Any], kind: str, given: dict[str, Any]) -> None:
        lines = order[kind]
        existing = next((i for i in lines if i["id"] == given.get("id")), None)
        if existing is not None:
            existing.update({k: v for k, v in given.items() if k not in ("id", "meta_data")})
            return
        line: dict[str, Any] = {"id": self.item_id()}
        if kind == "shipping_lines":
            line |= {
                "method_title": given.get("method_title", ""),
                "method_id": given.get("method_id", ""),
                "total": money(given.get("total")),
            }
        elif kind == "fee_lines":
            line |= {
                "name": given.get("name", ""),
                "tax_class": "",
                "tax_status": "taxable",
                "total": money(given.get("total")),
            }
        else:
            line |= {
                "code": given.get("code", ""),
                "discount": money(given.get("discount")),
                "discount_tax": "0.00",
            }
        line |= {"total_tax": "0.00", "taxes": [], "meta_data": []}
        lines.append(line)

    def _totals(self, order: dict[str, Any]) -> None:
        items = sum((Decimal(i["total"]) for i in order["line_items"]), Decimal(0))
        shipping = sum((Decimal(i["total"]) for i in order["shipping_lines"]), Decimal(0))
        fees = sum((Decimal(i["total"]) for i in order["fee_lines"]), Decimal(0))
        discount = sum((Decimal(i["discount"]) for i in order["coupon_lines"]), Decimal(0))
        order["shipping_total"] = money(shipping)
        order["discount_total"] = money(discount)
        order["total"] = money(items + shipping + fees - discount)

    # -- refunds and notes -----------------------------------------------------------------------

    def refunded_total(self, order_id: int) -> Decimal:
        return sum((Decimal(r["amount"]) for r in self.refunds.get(order_id, [])), Decimal(0))

    def add_refund(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            amount = Decimal(str(body.get("amount") or 0))
            if not body.get("amount") and body.get("line_items"):
                amount = sum(
                    (Decimal(str(li.get("refund_total") or 0)) for li in body["line_items"]),
                    Decimal(0),
                )
            remaining = Decimal(order["total"]) - self.refunded_total(order["id"])
            if amount <= 0 or amount > remaining:
                raise WooError(
                    400, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount."
                )
            refund_id = self.new_id()
            refund = {
                "id": refund_id,
                **self.dates("date_created"),
                "amount": money(amount),
                "reason": body.get("reason", ""),
                "refunded_by": int(body.get("refunded_by", 1)),
                "refunded_payment": bool(body.get("api_refund", True))
                and order["payment_method"] not in ("", "bacs", "cheque", "cod"),
                "meta_data": self._meta([], body.get("meta_data")),
                "line_items": body.get("line_items", []),
            }
            self.refunds.setdefault(order["id"], []).append(refund)
            # WooCommerce itself prints "reason" here; the docs example shows "refund" (a typo)
            order["refunds"].append(
                {"id": refund_id, "reason": refund["reason"], "total": "-" + refund["amount"]}
            )
            if amount == remaining:
                self._set_status(order, "refunded", "Order fully refunded.")
            order.update(self.dates("date_modified"))
            self.fire("order.updated", order)
            return refund

    def add_note(
        self, order_id: int, body: dict[str, Any], by_user: bool = True, fire: bool = False
    ) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            note = {
                "id": self.item_id(),
                "author": "admin" if by_user or body.get("added_by_user") else "WooCommerce",
                **self.dates("date_created"),
                "note": body.get("note", ""),
                "customer_note": bool(body.get("customer_note", False)),
            }
            self.notes.setdefault(order["id"], []).insert(0, note)
            return note


def _check_status(status: str) -> None:
    if status not in ORDER_STATUSES:
        raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")


def _address(given: dict[str, Any] | None, billing: bool) -> dict[str, str]:
    fields = ADDRESS + (("email", "phone") if billing else ())
    given = given or {}
    return {name: str(given.get(name, "") or "") for name in fields}


def _price(product: dict[str, Any]) -> None:
    sale, regular = product.get("sale_price") or "", product.get("regular_price") or ""
    product["price"] = sale or regular
    product["on_sale"] = bool(sale)
    if "price_html" in product and product["price"]:
        product["price_html"] = (
            '<span class="woocommerce-Price-amount amount"><span '
            'class="woocommerce-Price-currencySymbol">&#36;</span>' + product["price"] + "</span>"
        )
    if product.get("manage_stock") and product.get("stock_quantity") is not None:
        product["stock_status"] = "instock" if int(product["stock_quantity"]) > 0 else "outofstock"
