"""Mailchimp as the registry knows it (connector/systems/registry.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.systems.registry import System, all_set

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.mailchimp.client import MailchimpClient


def client(services: Services) -> MailchimpClient:
    from connector.systems.mailchimp.client import MailchimpClient

    return MailchimpClient.from_settings(services.settings)


SYSTEM = System(
    name="mailchimp",
    catalogue_copy="connector.catalogue.diff:mailchimp_differences",
    title="Mailchimp",
    settings=(
        "mailchimp_api_key",
        "mailchimp_base_url",
        "mailchimp_list_id",
        "mailchimp_store_id",
        "mailchimp_webhook_secret",
    ),
    configured=all_set("mailchimp_api_key"),
    client=client,
    blueprint="connector.systems.mailchimp.routes:blueprint",  # its webhook route
    task_handlers={
        "mailchimp.event": "connector.flows.consent:mailchimp_event",
        "push.mailchimp.member": "connector.systems.mailchimp.members:push_mailchimp_member",
        "push.mailchimp.order": "connector.flows.orders:push_mailchimp_order",
        "push.mailchimp.cart": "connector.flows.carts:push_mailchimp_cart",
        "push.mailchimp.balance": "connector.flows.balance:push_mailchimp_balance",
        "push.mailchimp.event": "connector.flows.balance:push_mailchimp_event",
        "push.mailchimp.promo": "connector.promo.push:push_mailchimp_promo",  # coupons
        "promo.expire": "connector.promo.push:expire_promos",
    },
    jobs="connector.promo.jobs:JOBS",
    setup="connector.systems.mailchimp.setup:run_setup",
    channel="connector.systems.mailchimp.channel:CHANNEL",  # member events that start journeys
    receives={"customer": "push.mailchimp.member", "order": "push.mailchimp.order"},
    sends={"customer"},
    push_ordering={
        "push.mailchimp.balance": "member",
        "push.mailchimp.event": "member",
        "push.mailchimp.cart": "cart",
        "push.mailchimp.promo": "coupon",
    },
)
