"""Coupons of the emulated shop (`/wp-json/wc/v3/coupons`, issue 17), as WooCommerce keeps them.

Shape: specs/woocommerce/coupon.json. Codes are stored lowercased and unique, as
`wc_format_coupon_code` and the REST controller do ("The coupon code already exists"). Saving
fires `coupon.created` / `coupon.updated`; a DELETE fires `coupon.deleted` and removes it (a
trashed coupon no longer reads). A coupon's use is counted when an order using its code is paid
(`wc_update_coupon_usage_counts`), once per order; counting changes neither `date_modified` nor
fires a webhook, as in WooCommerce, where `increase_usage` writes the meta directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector_sandbox.woocommerce.store import ShopState

FIELDS = (
    "code",
    "amount",
    "discount_type",
    "description",
    "date_expires",
    "date_expires_gmt",
    "individual_use",
    "product_ids",
    "excluded_product_ids",
    "usage_limit",
    "usage_limit_per_user",
    "limit_usage_to_x_items",
    "free_shipping",
    "product_categories",
    "excluded_product_categories",
    "exclude_sale_items",
    "minimum_amount",
    "maximum_amount",
    "email_restrictions",
)
TYPES = ("percent", "fixed_cart", "fixed_product")


class CouponDesk:
    """Create, read, update and delete coupons in `state.coupons`; every call holds the lock."""

    def __init__(self, state: ShopState) -> None:
        self.state = state

    def coupon(self, coupon_id: int) -> dict[str, Any]:
        from connector_sandbox.woocommerce.store import WooError

        found = self.state.coupons.get(int(coupon_id))
        if found is None:
            raise WooError(404, "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")
        return found

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from connector_sandbox.woocommerce.store import WooError, money

        state = self.state
        with state.lock:
            code = str(body.get("code") or "").strip().lower()
            if not code:
                raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): code")
            self._check(body, code, None)
            coupon_id = state.new_id(body.get("id"))
            coupon: dict[str, Any] = {
                "id": coupon_id,
                "code": code,
                "amount": "0",
                "discount_type": "fixed_cart",
                "description": "",
                "date_expires": None,
                "date_expires_gmt": None,
                "usage_count": 0,
                "individual_use": False,
                "product_ids": [],
                "excluded_product_ids": [],
                "usage_limit": None,
                "usage_limit_per_user": None,
                "limit_usage_to_x_items": None,
                "free_shipping": False,
                "product_categories": [],
                "excluded_product_categories": [],
                "exclude_sale_items": False,
                "minimum_amount": "0.00",
                "maximum_amount": "0.00",
                "email_restrictions": [],
                "used_by": [],
                "meta_data": state._meta([], body.get("meta_data")),
            }
            coupon |= state.dates("date_created") | state.dates("date_modified")
            self._apply(coupon, body | {"code": code})
            coupon["amount"] = money(coupon["amount"])
            state.coupons[coupon_id] = coupon
            state.fire("coupon.created", coupon)
            return coupon

    def update(self, coupon_id: int, body: dict[str, Any]) -> dict[str, Any]:
        from connector_sandbox.woocommerce.store import money

        state = self.state
        with state.lock:
            coupon = self.coupon(coupon_id)
            if "code" in body:
                body = body | {"code": str(body["code"]).strip().lower()}
            self._check(body, body.get("code", coupon["code"]), coupon["id"])
            self._apply(coupon, body)
            coupon["amount"] = money(coupon["amount"])
            state._meta(coupon["meta_data"], body.get("meta_data"))
            coupon.update(state.dates("date_modified"))
            state.fire("coupon.updated", coupon)
            return coupon

    def delete(self, coupon_id: int, force: bool) -> dict[str, Any]:
        state = self.state
        with state.lock:
            coupon = self.coupon(coupon_id)
            del state.coupons[coupon["id"]]
            state.fire("coupon.deleted", coupon)
            return coupon

    def _check(self, body: dict[str, Any], code: str, own_id: int | None) -> None:
        from connector_sandbox.woocommerce.store import WooError, invalid_param

        if any(c["code"] == code and c["id"] != own_id for c in self.state.coupons.values()):
            raise WooError(
                400, "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists"
            )
        if "discount_type" in body and body["discount_type"] not in TYPES:
            raise invalid_param("discount_type", f"discount_type is not one of {', '.join(TYPES)}.")

    def _apply(self, coupon: dict[str, Any], body: dict[str, Any]) -> None:
        for name in FIELDS:
            if name in body:
                coupon[name] = body[name]
        if "date_expires_gmt" in body or "date_expires" in body:
            given = body.get("date_expires_gmt") or body.get("date_expires")
            coupon["date_expires_gmt"] = coupon["date_expires"] = given or None


def count_usage(state: ShopState, order: dict[str, Any]) -> None:
    """A paid order uses its coupons: each code's `usage_count` goes up once per order."""
    if order["id"] in state.coupons_counted:
        return
    state.coupons_counted.add(order["id"])
    for line in order.get("coupon_lines") or []:
        code = str(line.get("code") or "").lower()
        for coupon in state.coupons.values():
            if coupon["code"] == code:
                coupon["usage_count"] += 1
                email = (order.get("billing") or {}).get("email")
                if email:
                    coupon["used_by"].append(email)
