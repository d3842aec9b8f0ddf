"""Business flows on canonical entities: customers, orders, carts, the way back from the CRM and
Mailchimp, and the bonus balance; `register` names every task kind they handle.

Inbound kinds (queued by webhooks.py, each with the entity's ordering key) read the source, apply
it to the hub and fan out one push task per target system; push kinds write one system each.
"""

from __future__ import annotations

from typing import Any

from connector.flows import balance, carts, consent, crm, customers, orders, products, shop_push


def register(registry: Any) -> None:
    kinds = {
        # in
        "woocommerce.order": orders.woocommerce_order,
        "woocommerce.customer": customers.woocommerce_customer,
        "woocommerce.product": products.woocommerce_product,
        "shop.order": orders.shop_order,
        "shop.customer": customers.shop_customer,
        "shop.cart": carts.shop_cart,
        "bitrix24.event": crm.bitrix24_event,
        "mailchimp.event": consent.mailchimp_event,
        # out
        "push.bitrix24.contact": customers.push_bitrix24_contact,
        "push.bitrix24.deal": orders.push_bitrix24_deal,
        "push.bitrix24.balance": balance.push_bitrix24_balance,
        "push.mailchimp.member": customers.push_mailchimp_member,
        "push.mailchimp.order": orders.push_mailchimp_order,
        "push.mailchimp.cart": carts.push_mailchimp_cart,
        "push.mailchimp.balance": balance.push_mailchimp_balance,
        "push.mailchimp.event": balance.push_mailchimp_event,
        "push.woocommerce.order": orders.push_woocommerce_order,
        "push.woocommerce.customer": customers.push_woocommerce_customer,
        "push.shop.order": shop_push.push_shop_order,
        "push.shop.customer": shop_push.push_shop_customer,
    }
    for kind, handler in kinds.items():
        registry.register(kind, handler)
