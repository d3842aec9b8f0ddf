"""Promo codes and campaign revenue (issue 17; docs/promo.md).

A shop coupon is read fresh (WooCommerce webhook `coupon.*` or the `coupons` poll), mapped to the
canonical `Coupon` (mappings/woocommerce/coupon.yaml), kept as the hub snapshot of entity
`coupon` and one `promo_codes` row, and pushed to Mailchimp as a promo rule and its promo code
(`push.mailchimp.promo`, only when what Mailchimp holds differs). A coupon deleted, expired
(`promo.expire`, every 15 minutes) or used up is sent with `enabled: false`. An order's coupons
reach the Mailchimp order as `promos` (their type from the coupon) and re-read the coupons, so
their usage counts follow the orders.

- `coupons.py`: applying a shop's coupon to the hub, the rules of `enabled`, the refresh on order.
- `push.py`: the Mailchimp push and the expiry task.
"""
