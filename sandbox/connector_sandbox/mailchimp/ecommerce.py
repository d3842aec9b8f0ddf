"""The e-commerce API of the emulated account: stores, customers, products and variants, carts,
orders, promo rules and promo codes (research/mailchimp.md §3).

Ids are the client's own strings; carts, orders, products and stores are POST to create and PATCH
to update (no PUT), customers and variants also have PUT. A customer brings its email into the
store's audience: ``opt_in_status`` true → subscribed, false → transactional, and never overwrites
an existing member except transactional → subscribed. Cart and order lines must name an existing
product variant.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Blueprint, request

from connector_sandbox.mailchimp import errors
from connector_sandbox.mailchimp.campaigns import check_campaign
from connector_sandbox.mailchimp.state import EMAIL_RE, MailchimpState, timestamp

COLLECTIONS = ("customers", "products", "carts", "orders", "promo-rules")
KIND = {
    "customers": "customer",
    "products": "product",
    "carts": "cart",
    "orders": "order",
    "promo-rules": "promo rule",
}
STORE_FIELDS = (
    "name",
    "platform",
    "domain",
    "is_syncing",
    "email_address",
    "currency_code",
    "money_format",
    "primary_locale",
    "timezone",
    "phone",
    "address",
)


def blueprint(state: MailchimpState, respond: Any, body: Any) -> Blueprint:
    """Routes under /3.0/ecommerce; ``respond`` shapes answers, ``body`` reads the JSON."""
    bp = Blueprint("mailchimp_ecommerce", __name__, url_prefix="/3.0/ecommerce")
    store_ops = _Stores(state)

    @bp.get("/stores")
    def stores_list() -> Any:
        with state.lock:
            stores = list(state.stores.values())
            return respond(_page("stores", stores, request.args))

    @bp.post("/stores")
    def stores_create() -> Any:
        return respond(state.create_store(body()))

    @bp.get("/stores/<store_id>")
    def store_get(store_id: str) -> Any:
        return respond(state.store(store_id))

    @bp.patch("/stores/<store_id>")
    def store_patch(store_id: str) -> Any:
        with state.lock:
            store = state.store(store_id)
            data = body()
            if "list_id" in data and data["list_id"] != store["list_id"]:
                raise errors.invalid_resource(
                    errors.SCHEMA_DETAIL,
                    [{"field": "list_id", "message": "The list_id of a store cannot be changed."}],
                )
            for name in STORE_FIELDS:
                if name in data:
                    store[name] = data[name]
            store["updated_at"] = timestamp()
            return respond(store)

    @bp.delete("/stores/<store_id>")
    def store_delete(store_id: str) -> Any:
        with state.lock:
            state.store(store_id)
            del state.stores[store_id]
            del state.store_items[store_id]
        return "", 204

    @bp.route("/stores/<store_id>/<collection>", methods=["GET", "POST"])
    def collection(store_id: str, collection: str) -> Any:
        if collection not in COLLECTIONS:
            raise errors.not_found()
        with state.lock:
            items = store_ops.items(store_id, collection)
            if request.method == "GET":
                found = list(items.values())
                if collection == "customers" and request.args.get("email_address"):
                    wanted = request.args["email_address"].lower()
                    found = [c for c in found if c["email_address"].lower() == wanted]
                page = _page(collection.replace("-", "_"), found, request.args)
                return respond({"store_id": store_id} | page)
            return respond(store_ops.create(store_id, collection, body()))

    @bp.route(
        "/stores/<store_id>/<collection>/<item_id>", methods=["GET", "PUT", "PATCH", "DELETE"]
    )
    def item(store_id: str, collection: str, item_id: str) -> Any:
        if collection not in COLLECTIONS:
            raise errors.not_found()
        with state.lock:
            items = store_ops.items(store_id, collection)
            if request.method == "PUT":
                if collection != "customers":
                    raise errors.method_not_allowed(["GET", "PATCH", "DELETE"])
                data = body() | {"id": item_id}
                if item_id in items:
                    return respond(store_ops.update(store_id, collection, item_id, data))
                return respond(store_ops.create(store_id, collection, data))
            if item_id not in items:
                raise errors.not_found()
            if request.method == "GET":
                return respond(items[item_id])
            if request.method == "PATCH":
                return respond(store_ops.update(store_id, collection, item_id, body()))
            del items[item_id]
            return "", 204

    @bp.route("/stores/<store_id>/products/<product_id>/variants", methods=["GET", "POST"])
    def variants(store_id: str, product_id: str) -> Any:
        with state.lock:
            product = store_ops.item(store_id, "products", product_id)
            if request.method == "GET":
                page = _page("variants", product["variants"], request.args)
                return respond({"store_id": store_id, "product_id": product_id} | page)
            data = body()
            if any(v["id"] == data["id"] for v in product["variants"]):
                raise errors.invalid_resource("A variant with the provided ID already exists.")
            variant = _variant(data)
            product["variants"].append(variant)
            return respond(variant)

    @bp.route(
        "/stores/<store_id>/products/<product_id>/variants/<variant_id>",
        methods=["GET", "PUT", "PATCH", "DELETE"],
    )
    def variant(store_id: str, product_id: str, variant_id: str) -> Any:
        with state.lock:
            product = store_ops.item(store_id, "products", product_id)
            found = next((v for v in product["variants"] if v["id"] == variant_id), None)
            if request.method == "PUT":
                data = body() | {"id": variant_id}
                if found is None:
                    found = _variant(data)
                    product["variants"].append(found)
                    return respond(found)
                found.update(_variant(data) | {"created_at": found["created_at"]})
                return respond(found)
            if found is None:
                raise errors.not_found()
            if request.method == "GET":
                return respond(found)
            if request.method == "PATCH":
                found.update({k: v for k, v in body().items() if k != "id"})
                found["updated_at"] = timestamp()
                return respond(found)
            product["variants"].remove(found)
            return "", 204

    @bp.route("/stores/<store_id>/<collection>/<item_id>/lines", methods=["GET", "POST"])
    def lines(store_id: str, collection: str, item_id: str) -> Any:
        if collection not in ("carts", "orders"):
            raise errors.not_found()
        with state.lock:
            owner = store_ops.item(store_id, collection, item_id)
            if request.method == "GET":
                page = _page("lines", owner["lines"], request.args)
                return respond({"store_id": store_id} | page)
            line = store_ops.line(store_id, body(), 0)
            owner["lines"].append(line)
            return respond(line)

    @bp.route(
        "/stores/<store_id>/<collection>/<item_id>/lines/<line_id>",
        methods=["GET", "PATCH", "DELETE"],
    )
    def line(store_id: str, collection: str, item_id: str, line_id: str) -> Any:
        if collection not in ("carts", "orders"):
            raise errors.not_found()
        with state.lock:
            owner = store_ops.item(store_id, collection, item_id)
            found = next((ln for ln in owner["lines"] if ln["id"] == line_id), None)
            if found is None:
                raise errors.not_found()
            if request.method == "GET":
                return respond(found)
            if request.method == "PATCH":
                found.update({k: v for k, v in body().items() if k != "id"})
                return respond(found)
            owner["lines"].remove(found)
            return "", 204

    @bp.route("/stores/<store_id>/promo-rules/<rule_id>/promo-codes", methods=["GET", "POST"])
    def promo_codes(store_id: str, rule_id: str) -> Any:
        with state.lock:
            store_ops.item(store_id, "promo-rules", rule_id)
            codes = state.store_items[store_id]["promo-codes"].setdefault(rule_id, {})
            if request.method == "GET":
                page = _page("promo_codes", list(codes.values()), request.args)
                return respond({"store_id": store_id} | page)
            data = body()
            if data["id"] in codes:
                raise errors.invalid_resource("A promo code with the provided ID already exists.")
            code = _promo_code(data)
            codes[code["id"]] = code
            return respond(code)

    @bp.route(
        "/stores/<store_id>/promo-rules/<rule_id>/promo-codes/<code_id>",
        methods=["GET", "PATCH", "DELETE"],
    )
    def promo_code(store_id: str, rule_id: str, code_id: str) -> Any:
        with state.lock:
            store_ops.item(store_id, "promo-rules", rule_id)
            codes = state.store_items[store_id]["promo-codes"].setdefault(rule_id, {})
            if code_id not in codes:
                raise errors.not_found()
            if request.method == "GET":
                return respond(codes[code_id])
            if request.method == "PATCH":
                codes[code_id].update({k: v for k, v in body().items() if k != "id"})
                codes[code_id]["updated_at_foreign"] = timestamp()
                return respond(codes[code_id])
            del codes[code_id]
            return "", 204

    return bp


class _Stores:
    """Creation and update rules for the objects of one store."""

    def __init__(self, state: MailchimpState) -> None:
        self.state = state

    def items(self, store_id: str, collection: str) -> dict[str, dict[str, Any]]:
        self.state.store(store_id)
        return self.state.store_items[store_id][collection]

    def item(self, store_id: str, collection: str, item_id: str) -> dict[str, Any]:
        found = self.items(store_id, collection).get(item_id)
        if found is None:
            raise errors.not_found()
        return found

    def create(self, store_id: str, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        items = self.items(store_id, collection)
        if data["id"] in items:
            raise errors.invalid_resource(
                f"A{'n' if collection == 'orders' else ''} {KIND[collection]} with the provided "
                "ID already exists in the account."
            )
        now = timestamp()
        if collection == "customers":
            item = self._customer(store_id, data, None)
        elif collection == "products":
            item = {
                "id": data["id"],
                "currency_code": data.get(
                    "currency_code", self.state.store(store_id)["currency_code"]
                ),
                "title": data["title"],
                "handle": data.get("handle", ""),
                "url": data.get("url", ""),
                "description": data.get("description", ""),
                "type": data.get("type", ""),
                "vendor": data.get("vendor", ""),
                "image_url": data.get("image_url", ""),
                "variants": [_variant(v) for v in data["variants"]],
                "images": data.get("images", []),
                "published_at_foreign": data.get("published_at_foreign", ""),
            }
        elif collection in ("carts", "orders"):
            check_campaign(self.state, store_id, data)
            item = self._basket(store_id, collection, data)
        else:
            item = _promo_rule(data)
        item.setdefault("created_at", now)
        item["updated_at"] = now
        items[item["id"]] = item
        return item

    def update(
        self, store_id: str, collection: str, item_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        item = self.item(store_id, collection, item_id)
        data = {k: v for k, v in data.items() if k != "id"}
        if collection == "customers":
            item = self._customer(store_id, {"id": item_id} | data, item)
        elif collection in ("carts", "orders"):
            check_campaign(self.state, store_id, data)
            if "customer" in data:
                data["customer"] = self._customer_ref(store_id, data["customer"])
            if "lines" in data:
                data["lines"] = [self.line(store_id, ln, i) for i, ln in enumerate(data["lines"])]
            if collection == "orders" and "promos" in data:
                data["promos"] = list(data["promos"])  # PATCH replaces the whole list
            item.update(data)
        elif collection == "products":
            if "variants" in data:
                data["variants"] = [_variant(v) for v in data["variants"]]
            item.update(data)
        else:
            item.update(data)
        item["updated_at"] = timestamp()
        return item

    def _customer(
        self, store_id: str, data: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        email = data.get("email_address") or (existing or {}).get("email_address", "")
        if not EMAIL_RE.match(email or ""):
            raise errors.customer_not_saved(email)
        opt_in = bool(data.get("opt_in_status", (existing or {}).get("opt_in_status", False)))
        customer = (
            existing
            if existing is not None
            else {
                "id": data["id"],
                "email_address": email,
                "opt_in_status": opt_in,
                "company": "",
                "first_name": "",
                "last_name": "",
                "orders_count": 0,
                "total_spent": 0,
                "address": {},
                "created_at": timestamp(),
            }
        )
        for name in ("email_address", "company", "first_name", "last_name", "address"):
            if name in data:
                customer[name] = data[name]
        customer["opt_in_status"] = opt_in
        customer["updated_at"] = timestamp()
        self._audience_member(store_id, customer)
        return customer

    def _audience_member(self, store_id: str, customer: dict[str, Any]) -> None:
        list_id = self.state.store(store_id)["list_id"]
        member = self.state.find_member(list_id, customer["email_address"])
        merges = {"FNAME": customer.get("first_name", ""), "LNAME": customer.get("last_name", "")}
        merges = {k: v for k, v in merges.items() if v}
        if member is None or member["status"] == "archived":
            status = "subscribed" if customer["opt_in_status"] else "transactional"
            self.state.put_member(
                list_id,
                customer["email_address"],
                {
                    "email_address": customer["email_address"],
                    "status_if_new": status,
                    "merge_fields": merges,
                },
                skip_validation=True,
            )
        elif customer["opt_in_status"] and member["status"] == "transactional":
            self.state.patch_member(list_id, member["id"], {"status": "subscribed"})

    def _customer_ref(self, store_id: str, data: dict[str, Any]) -> dict[str, Any]:
        customers = self.items(store_id, "customers")
        existing = customers.get(data.get("id", ""))
        if existing is None:
            if not data.get("email_address"):
                raise errors.invalid_resource(
                    errors.SCHEMA_DETAIL,
                    [
                        {
                            "field": "customer.email_address",
                            "message": "This value should not be blank.",
                        }
                    ],
                )
            existing = self._customer(store_id, data, None)
            customers[existing["id"]] = existing
        elif len(data) > 1:
            self._customer(store_id, data, existing)
        return deepcopy(existing)

    def _basket(self, store_id: str, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer_ref(store_id, data["customer"])
        lines = [self.line(store_id, ln, i) for i, ln in enumerate(data["lines"])]
        item = {k: v for k, v in data.items() if k not in ("customer", "lines")}
        item |= {
            "customer": customer,
            "store_id": store_id,
            "currency_code": data["currency_code"],
            "order_total": data["order_total"],
            "tax_total": data.get("tax_total", 0),
            "lines": lines,
            "campaign_id": data.get("campaign_id", ""),
        }
        if collection == "carts":
            item["checkout_url"] = data.get("checkout_url", "")
            return item
        item |= {
            "financial_status": data.get("financial_status", ""),
            "fulfillment_status": data.get("fulfillment_status", ""),
            "discount_total": data.get("discount_total", 0),
            "shipping_total": data.get("shipping_total", 0),
            "processed_at_foreign": data.get("processed_at_foreign", ""),
            "cancelled_at_foreign": data.get("cancelled_at_foreign", ""),
            "updated_at_foreign": data.get("updated_at_foreign", ""),
            "promos": data.get("promos", []),
            "outreach": {},
        }
        stored = self.items(store_id, "customers")[customer["id"]]
        stored["orders_count"] += 1
        stored["total_spent"] = round(stored["total_spent"] + float(data["order_total"]), 2)
        return item

    def line(self, store_id: str, data: dict[str, Any], index: int) -> dict[str, Any]:
        products = self.items(store_id, "products")
        product = products.get(data.get("product_id", ""))
        variant = None
        if product is not None:
            variant = next(
                (v for v in product["variants"] if v["id"] == data.get("product_variant_id")), None
            )
        if variant is None:
            raise errors.invalid_resource(
                errors.SCHEMA_DETAIL,
                [
                    {
                        "field": f"lines.item:{index}",
                        "message": "A product with the provided ID does not exist in the account "
                        "for this list.",
                    }
                ],
            )
        assert product is not None
        return {
            "id": data["id"],
            "product_id": product["id"],
            "product_title": product["title"],
            "product_variant_id": variant["id"],
            "product_variant_title": variant["title"],
            "image_url": variant.get("image_url") or product.get("image_url", ""),
            "quantity": data["quantity"],
            "price": data["price"],
            "discount": data.get("discount", 0),
        }


def _variant(data: dict[str, Any]) -> dict[str, Any]:
    now = timestamp()
    return {
        "id": data["id"],
        "title": data["title"],
        "url": data.get("url", ""),
        "sku": data.get("sku", ""),
        "price": data.get("price", 0),
        "inventory_quantity": data.get("inventory_quantity", 0),
        "image_url": data.get("image_url", ""),
        "backorders": data.get("backorders", ""),
        "visibility": data.get("visibility", ""),
        "created_at": now,
        "updated_at": now,
    }


def _promo_rule(data: dict[str, Any]) -> dict[str, Any]:
    now = timestamp()
    return {
        "id": data["id"],
        "title": data.get("title", ""),
        "description": data["description"],
        "starts_at": data.get("starts_at", ""),
        "ends_at": data.get("ends_at", ""),
        "amount": data["amount"],
        "type": data["type"],
        "target": data["target"],
        "enabled": data.get("enabled", True),
        "created_at_foreign": data.get("created_at_foreign", now),
        "updated_at_foreign": data.get("updated_at_foreign", now),
    }


def _promo_code(data: dict[str, Any]) -> dict[str, Any]:
    now = timestamp()
    return {
        "id": data["id"],
        "code": data["code"],
        "redemption_url": data["redemption_url"],
        "usage_count": data.get("usage_count", 0),
        "enabled": data.get("enabled", True),
        "created_at_foreign": data.get("created_at_foreign", now),
        "updated_at_foreign": data.get("updated_at_foreign", now),
    }


def _page(name: str, items: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    count = min(int(args.get("count", 10)), 1000)
    offset = int(args.get("offset", 0))
    return {name: items[offset : offset + count], "total_items": len(items)}
