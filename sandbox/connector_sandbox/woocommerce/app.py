"""The WooCommerce REST API v3 emulator (``/wp-json/wc/v3``): auth, lists, CRUD, batches and
webhooks.

Auth: consumer key and secret as HTTP Basic (what WooCommerce accepts over https; the sandbox takes
it over plain http) or as ``consumer_key``/``consumer_secret`` query parameters; otherwise 401 with
the ``woocommerce_rest_cannot_*`` shape. Lists take ``page``/``per_page`` (≤ 100),
``orderby``/``order``, ``modified_after``/``modified_before``, ``after``/``before``, ``status``,
``search``, ``include`` and answer the ``X-WP-Total``/``X-WP-TotalPages`` headers. Every change
fires the matching webhook topic.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from connector_sandbox.common import Outbox, base_url, control_blueprint
from connector_sandbox.faults import FaultInjector
from connector_sandbox.woocommerce import shopper
from connector_sandbox.woocommerce.coupons import CouponDesk
from connector_sandbox.woocommerce.hooks import Webhooks, webhook_view
from connector_sandbox.woocommerce.store import ShopState, WooError, invalid_param

API = "/wp-json/wc/v3"
BATCH_LIMIT = 100
DEFAULTS: dict[str, Any] = {
    "consumer_key": "ck_d6a0c1f4e2b3a5c7d9e1f0a2b4c6d8e0f1a3b5c7",
    "consumer_secret": "cs_7e1f3a5c9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a",
    "webhook_secret": "sandbox-woocommerce-webhook-secret",
    "seed": "catalog",
    "currency": "USD",
    "utc_offset_hours": 0,
    "webhook_timeout": 5.0,
}
ORDERBY = {
    "orders": ("date", "id", "include", "title", "slug", "modified"),
    "products": (
        "date",
        "id",
        "include",
        "title",
        "slug",
        "price",
        "popularity",
        "rating",
        "modified",
    ),
    "customers": ("id", "include", "name", "registered_date"),
    "coupons": ("date", "id", "include", "title", "slug", "modified"),
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.woocommerce")
    app.config["SANDBOX"] = settings
    state = ShopState(settings)
    outbox = Outbox(timeout=settings["webhook_timeout"])
    webhooks = Webhooks(state, outbox, lambda resource, record: view(resource, record))
    state.fire = lambda topic, record: webhooks.fire(topic, record, base_url(app))
    app.extensions["woocommerce"] = state
    app.extensions["woocommerce_webhooks"] = webhooks

    def view(resource: str, record: dict[str, Any]) -> dict[str, Any]:
        root = base_url(app) + API
        plural = {
            "order": "orders",
            "customer": "customers",
            "product": "products",
            "coupon": "coupons",
        }[resource]
        links: dict[str, Any] = {
            "self": [{"href": f"{root}/{plural}/{record['id']}"}],
            "collection": [{"href": f"{root}/{plural}"}],
        }
        if resource == "order" and record.get("customer_id"):
            links["customer"] = [{"href": f"{root}/customers/{record['customer_id']}"}]
        if resource == "product":
            permalink = base_url(app) + record["permalink"] if record["permalink"][0] == "/" else ""
            record = record | {"permalink": permalink or record["permalink"]}
        return json.loads(json.dumps(record)) | {"_links": links}

    def sub_view(record: dict[str, Any], order_id: int, kind: str) -> dict[str, Any]:
        root = f"{base_url(app)}{API}/orders/{order_id}"
        return dict(record) | {
            "_links": {
                "self": [{"href": f"{root}/{kind}/{record['id']}"}],
                "collection": [{"href": f"{root}/{kind}"}],
                "up": [{"href": root}],
            }
        }

    def hook_view(hook: dict[str, Any]) -> dict[str, Any]:
        root = base_url(app) + API
        return webhook_view(hook) | {
            "_links": {
                "self": [{"href": f"{root}/webhooks/{hook['id']}"}],
                "collection": [{"href": f"{root}/webhooks"}],
            }
        }

    @app.before_request
    def authenticate() -> None:
        if not request.path.startswith("/wp-json/"):
            return
        key, secret = _credentials()
        if key is None:
            raise _cannot(request.method, request.path)
        if key != settings["consumer_key"]:
            raise WooError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if secret != settings["consumer_secret"]:
            raise WooError(
                401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
            )

    def body() -> dict[str, Any]:
        raw = request.get_data()
        if not raw.strip():
            return dict(request.form) if request.form else {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.") from None
        if not isinstance(data, dict):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
        return data

    def respond(payload: Any, status: int = 200, headers: dict[str, str] | None = None):
        response = Response(json.dumps(payload), status=status, mimetype="application/json")
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def force() -> bool:
        return str(request.args.get("force", body().get("force", ""))).lower() in ("1", "true")

    # -- collections -----------------------------------------------------------------------------

    coupons = CouponDesk(state)

    resources = {
        "orders": ("order", lambda: state.orders, state.create_order, state.update_order,
                   state.delete_order, state.order),
        "customers": ("customer", lambda: state.customers, state.create_customer,
                      state.update_customer, state.delete_customer, state.customer),
        "products": ("product", lambda: state.products, state.create_product,
                     state.update_product, state.delete_product, state.product),
        "coupons": ("coupon", lambda: state.coupons, coupons.create, coupons.update,
                    coupons.delete, coupons.coupon),
    }  # fmt: skip

    @app.route(f"{API}/<collection>", methods=["GET", "POST"])
    def collection(collection: str) -> Response:
        if collection not in resources:
            raise _no_route()
        resource, table, create, *_ = resources[collection]
        if request.method == "POST":
            with state.lock:
                record = create(body())
                return respond(view(resource, record), 201)
        with state.lock:
            found = _filter(collection, list(table().values()), request.args)
            page, per_page, total, pages = _paginate(found, request.args)
            items = [view(resource, r) for r in page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        link = _link_header(collection, request.args, pages)
        if link:
            headers["Link"] = link
        return respond(items, headers=headers)

    @app.route(
        f"{API}/<collection>/<int:item_id>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"]
    )
    def item(collection: str, item_id: int) -> Response:
        if collection not in resources:
            raise _no_route()
        resource, _, _, update, delete, get = resources[collection]
        with state.lock:
            if request.method == "GET":
                return respond(view(resource, get(item_id)))
            if request.method == "DELETE":
                return respond(view(resource, delete(item_id, force())))
            return respond(view(resource, update(item_id, body())))

    @app.post(f"{API}/<collection>/batch")
    @app.put(f"{API}/<collection>/batch")
    @app.patch(f"{API}/<collection>/batch")
    def batch(collection: str) -> Response:
        if collection not in resources:
            raise _no_route()
        resource, _, create, update, delete, _ = resources[collection]
        data = body()
        if sum(len(data.get(k) or []) for k in ("create", "update", "delete")) > BATCH_LIMIT:
            raise WooError(
                413,
                "rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        answer: dict[str, list[Any]] = {}
        with state.lock:
            if "create" in data:
                answer["create"] = [
                    _batch_item(lambda e=entry: view(resource, create(e)), None)
                    for entry in data["create"]
                ]
            if "update" in data:
                answer["update"] = [
                    _batch_item(
                        lambda e=entry: view(resource, update(int(e.get("id", 0)), e)),
                        entry.get("id"),
                    )
                    for entry in data["update"]
                ]
            if "delete" in data:
                answer["delete"] = [
                    _batch_item(lambda i=entry: view(resource, delete(int(i), True)), entry)
                    for entry in data["delete"]
                ]
        return respond(answer)

    @app.get(f"{API}/products/<int:product_id>/variations")
    def variations(product_id: int) -> Response:
        with state.lock:
            product = state.product(product_id)
            found = [variation_view(state.variations[v]) for v in product["variations"]]
        page, _, total, pages = _paginate(found, request.args)
        return respond(page, headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    @app.get(f"{API}/products/<int:product_id>/variations/<int:variation_id>")
    def variation(product_id: int, variation_id: int) -> Response:
        with state.lock:
            product = state.product(product_id)
            if variation_id not in product["variations"]:
                raise WooError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            return respond(variation_view(state.variations[variation_id]))

    def variation_view(record: dict[str, Any]) -> dict[str, Any]:
        root = f"{base_url(app)}{API}/products/{record['parent_id']}/variations"
        return dict(record) | {
            "_links": {
                "self": [{"href": f"{root}/{record['id']}"}],
                "collection": [{"href": root}],
                "up": [{"href": f"{base_url(app)}{API}/products/{record['parent_id']}"}],
            }
        }

    # -- order refunds and notes -----------------------------------------------------------------

    @app.route(f"{API}/orders/<int:order_id>/<kind>", methods=["GET", "POST"])
    def order_children(order_id: int, kind: str) -> Response:
        if kind not in ("refunds", "notes"):
            raise _no_route()
        with state.lock:
            state.order(order_id)
            if request.method == "POST":
                if kind == "refunds":
                    record = state.add_refund(order_id, body())
                else:
                    record = state.add_note(order_id, body())
                return respond(sub_view(record, order_id, kind), 201)
            table = state.refunds if kind == "refunds" else state.notes
            records = [sub_view(r, order_id, kind) for r in table.get(order_id, [])]
            if kind == "refunds":
                records.sort(key=lambda r: r["id"], reverse=True)
            return respond(
                records, headers={"X-WP-Total": str(len(records)), "X-WP-TotalPages": "1"}
            )

    @app.route(f"{API}/orders/<int:order_id>/<kind>/<int:child_id>", methods=["GET", "DELETE"])
    def order_child(order_id: int, kind: str, child_id: int) -> Response:
        if kind not in ("refunds", "notes"):
            raise _no_route()
        with state.lock:
            state.order(order_id)
            table = state.refunds if kind == "refunds" else state.notes
            found = next((r for r in table.get(order_id, []) if r["id"] == child_id), None)
            if found is None:
                code = (
                    "woocommerce_rest_invalid_id"
                    if kind == "notes"
                    else "woocommerce_rest_shop_order_refund_invalid_id"
                )
                raise WooError(404, code, "Invalid resource ID.")
            if request.method == "DELETE":
                if not force():
                    raise WooError(
                        501, "woocommerce_rest_trash_not_supported",
                        f"{'Notes' if kind == 'notes' else 'Refunds'} do not support trashing.",
                    )  # fmt: skip
                table[order_id].remove(found)
            return respond(sub_view(found, order_id, kind))

    # -- webhooks resource -----------------------------------------------------------------------

    @app.route(f"{API}/webhooks", methods=["GET", "POST"])
    def webhooks_collection() -> Response:
        if request.method == "POST":
            return respond(hook_view(webhooks.create(body())), 201)
        with state.lock:
            hooks = list(state.webhooks.values())
        status = request.args.get("status", "all")
        if status != "all":
            hooks = [h for h in hooks if h["status"] == status]
        page, _, total, pages = _paginate(hooks, request.args)
        return respond(
            [hook_view(h) for h in page],
            headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)},
        )

    @app.route(f"{API}/webhooks/<int:hook_id>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def webhook(hook_id: int) -> Response:
        if request.method == "GET":
            return respond(hook_view(webhooks.get(hook_id)))
        if request.method == "DELETE":
            if not force():
                raise WooError(
                    501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing."
                )
            with state.lock:
                hook = webhooks.get(hook_id)
                del state.webhooks[hook_id]
            return respond(hook_view(hook))
        return respond(hook_view(webhooks.update(hook_id, body())))

    @app.get("/wp-json/")
    @app.get(API)
    def index() -> Response:
        return respond({"namespace": "wc/v3", "routes": {}})

    app.register_blueprint(shopper.blueprint(state, webhooks, outbox, view))
    app.register_blueprint(control_blueprint(state, outbox), name="sandbox_base")

    @app.errorhandler(WooError)
    def refusal(error: WooError) -> Response:
        return respond(error.body(), error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code in (404, 405):
            return respond(_no_route().body(), 404)
        return respond(
            {"code": "rest_error", "message": error.description, "data": {"status": error.code}},
            error.code or 500,
        )

    FaultInjector(app, _fault_body)
    return app


def _credentials() -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None, None
        return user, password
    if "consumer_key" in request.args:
        return request.args.get("consumer_key"), request.args.get("consumer_secret")
    return None, None


def _cannot(method: str, path: str) -> WooError:
    single = path.rstrip("/").rsplit("/", 1)[-1].isdigit()
    if method == "GET":
        text = (
            "Sorry, you cannot view this resource."
            if single
            else "Sorry, you cannot list resources."
        )
        return WooError(401, "woocommerce_rest_cannot_view", text)
    if method == "DELETE":
        return WooError(
            401,
            "woocommerce_rest_cannot_delete",
            "Sorry, you are not allowed to delete this resource.",
        )
    if single or path.endswith("/batch"):
        return WooError(
            401, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."
        )
    return WooError(
        401, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."
    )


def _no_route() -> WooError:
    return WooError(404, "rest_no_route", "No route was found matching the URL and request method")


def _fault_body(status: int) -> tuple[str, bytes]:
    body = {
        "code": "internal_server_error",
        "message": "<p>There has been a critical error on this website.</p>",
        "data": {"status": status},
    }
    return "application/json; charset=UTF-8", json.dumps(body).encode()


def _batch_item(action: Any, item_id: Any) -> dict[str, Any]:
    try:
        return action()
    except WooError as error:
        return {"id": int(item_id or 0), "error": error.body()}


def _parse_time(value: str, name: str) -> tuple[str, bool]:
    """An ISO 8601 bound as a naive string, and whether it is UTC (it carried an offset)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise invalid_param(name, f"{name} is not a valid date.") from None
    offset = parsed.utcoffset()
    if offset is not None:
        parsed = parsed.replace(tzinfo=None) - offset
    return parsed.replace(microsecond=0).isoformat(), offset is not None


def _filter(collection: str, records: list[dict[str, Any]], args: Any) -> list[dict[str, Any]]:
    gmt = str(args.get("dates_are_gmt", "")).lower() in ("1", "true")
    suffix = "_gmt" if gmt else ""
    bounds = {
        "after": ("date_created", ">"),
        "before": ("date_created", "<"),
        "modified_after": ("date_modified", ">"),
        "modified_before": ("date_modified", "<"),
    }
    for name, (field, op) in bounds.items():
        if args.get(name):
            edge, utc = _parse_time(args[name], name)
            key = field + ("_gmt" if utc else suffix)
            if op == ">":
                records = [r for r in records if r[key] > edge]
            else:
                records = [r for r in records if r[key] < edge]
    status = args.get("status")
    if collection == "orders":
        if status and status != "any":
            wanted = set(status.split(","))
            records = [r for r in records if r["status"] in wanted]
        elif not status or status == "any":
            records = [r for r in records if r["status"] != "trash"]
        if args.get("customer"):
            records = [r for r in records if r["customer_id"] == int(args["customer"])]
        if args.get("product"):
            pid = int(args["product"])
            records = [r for r in records if any(i["product_id"] == pid for i in r["line_items"])]
    elif collection == "products":
        if status and status != "any":
            records = [r for r in records if r["status"] == status]
        else:
            records = [r for r in records if r["status"] != "trash"]
        if args.get("sku"):
            skus = set(args["sku"].split(","))
            records = [r for r in records if r["sku"] in skus]
    elif collection == "customers":
        if args.get("email"):
            records = [r for r in records if r["email"].lower() == args["email"].lower()]
        if args.get("role") and args["role"] not in ("all", "customer"):
            records = []
    if args.get("search"):
        needle = args["search"].lower()
        records = [r for r in records if needle in json.dumps(r, ensure_ascii=False).lower()]
    if args.get("include"):
        ids = {int(i) for i in str(args["include"]).split(",") if i.strip()}
        records = [r for r in records if r["id"] in ids]
    if args.get("exclude"):
        ids = {int(i) for i in str(args["exclude"]).split(",") if i.strip()}
        records = [r for r in records if r["id"] not in ids]
    return _sort(collection, records, args)


def _sort(collection: str, records: list[dict[str, Any]], args: Any) -> list[dict[str, Any]]:
    default = "registered_date" if collection == "customers" else "date"
    orderby = args.get("orderby", default if collection != "customers" else "name")
    if orderby not in ORDERBY[collection]:
        raise invalid_param("orderby", f"orderby is not one of {', '.join(ORDERBY[collection])}.")
    order = args.get("order", "asc" if collection == "customers" else "desc")
    if order not in ("asc", "desc"):
        raise invalid_param("order", "order is not one of asc, desc.")
    keys = {
        "date": lambda r: (r["date_created_gmt"], r["id"]),
        "registered_date": lambda r: (r["date_created_gmt"], r["id"]),
        "modified": lambda r: (r["date_modified_gmt"], r["id"]),
        "id": lambda r: r["id"],
        "include": lambda r: r["id"],
        "title": lambda r: (r.get("name", ""), r["id"]),
        "name": lambda r: (r.get("first_name", "") or r.get("username", ""), r["id"]),
        "slug": lambda r: (r.get("slug", ""), r["id"]),
        "price": lambda r: (float(r.get("price") or 0), r["id"]),
        "popularity": lambda r: (r.get("total_sales", 0), r["id"]),
        "rating": lambda r: (r.get("average_rating", ""), r["id"]),
    }
    return sorted(records, key=keys[orderby], reverse=order == "desc")


def _paginate(records: list[Any], args: Any) -> tuple[list[Any], int, int, int]:
    try:
        per_page = int(args.get("per_page", 10))
        page = int(args.get("page", 1))
    except ValueError:
        raise invalid_param("per_page", "per_page is not of type integer.") from None
    if not 1 <= per_page <= 100:
        raise invalid_param(
            "per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)"
        )
    if page < 1:
        raise invalid_param("page", "page must be greater than or equal to 1")
    offset = int(args.get("offset", (page - 1) * per_page))
    total = len(records)
    pages = math.ceil(total / per_page) if total else 0
    return records[offset : offset + per_page], per_page, total, pages


def _link_header(collection: str, args: Any, pages: int) -> str:
    page = int(args.get("page", 1))
    root = f"{request.host_url.rstrip('/')}{API}/{collection}"
    query = {k: v for k, v in args.items() if k not in ("page", "consumer_key", "consumer_secret")}
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1)):
        if 1 <= number <= pages:
            params = "&".join(f"{k}={v}" for k, v in {**query, "page": number}.items())
            links.append(f'<{root}?{params}>; rel="{rel}"')
    return ", ".join(links)
