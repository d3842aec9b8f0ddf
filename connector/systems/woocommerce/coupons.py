"""WooCommerce coupons (issue 17): the `woocommerce.coupon` task and the `coupons` poll.

A webhook `coupon.created/updated/deleted` (or a polled change, or an order that used the code)
is only a trigger: the coupon is read fresh with `GET /coupons/<id>` and applied through
connector/promo. A coupon gone from the shop (deleted, 404, or in the trash) stays in Mailchimp,
disabled, since orders refer to its code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.errors import PermanentError
from connector.flows.hub import skip
from connector.promo.coupons import apply_coupon, delete_coupon

if TYPE_CHECKING:
    from connector.services import Services
    from connector.sync.streams import Stream
    from connector.tasks import TaskContext

SOURCE = "woocommerce"


def woocommerce_coupon(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `woocommerce.coupon` {id, event?, via?}: re-read the coupon, apply it."""
    coupon_id = str(payload["id"])
    if payload.get("event") == "deleted":
        delete_coupon(ctx, SOURCE, coupon_id)
        return
    try:
        record = ctx.services.woocommerce.request("GET", f"/coupons/{int(coupon_id)}")
    except PermanentError as error:
        if error.status == 404:
            delete_coupon(ctx, SOURCE, coupon_id)
            return
        raise
    if not isinstance(record, dict):
        skip("coupon", "not a coupon in the answer", id=coupon_id)
        return
    if record.get("status") == "trash":
        delete_coupon(ctx, SOURCE, coupon_id)
        return
    canonical = ctx.services.mappings.current.get(SOURCE, "coupon").to_canonical(record)
    apply_coupon(ctx, SOURCE, coupon_id, canonical, record.get("date_modified_gmt"))


def coupon_stream(services: Services, options: dict[str, Any]) -> Stream:
    """`/coupons` changed since the cursor (`modified_after`, as orders and products)."""
    from connector.sync import woocommerce

    return woocommerce.ModifiedStream(services.woocommerce, "coupons", **options)
