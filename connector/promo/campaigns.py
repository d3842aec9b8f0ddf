"""Campaign revenue: the order carries the Mailchimp campaign that brought it.

The campaign id and landing page come from the shop's order (the official plugin's
`_mailchimp_campaign_id` / `_mailchimp_landing_site` meta, mappings/woocommerce/order.yaml; the
generic contract's `mailchimp.campaign_id` / `mailchimp.landing_site`) and go to the Mailchimp
order (`campaign_id`, `landing_site`) and the deal (mappings/bitrix24/deal.yaml). Mailchimp
refuses an order naming a campaign the store's audience does not have (a deleted campaign, a
link from another audience's email): 400 "A campaign with the provided ID does not exist in the
account for this list." The order is then sent without it, as the official plugins do
(mailchimp/mc-woocommerce#343): the purchase must reach Mailchimp, its attribution is a bonus.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.errors import PermanentError

if TYPE_CHECKING:
    from connector.systems.mailchimp.client import MailchimpClient

log = logging.getLogger(__name__)
UNKNOWN_CAMPAIGN = "campaign with the provided id does not exist"


def upsert_order(client: MailchimpClient, store_id: str, body: Mapping[str, Any]) -> Any:
    """Upserts the e-commerce order; again without `campaign_id` when Mailchimp refuses it."""
    try:
        return client.upsert_order(store_id, body)
    except PermanentError as error:
        if not body.get("campaign_id") or UNKNOWN_CAMPAIGN not in str(error).lower():
            raise
        log.warning(
            "mailchimp order %s: campaign %s unknown to the audience, sent without it",
            body.get("id"),
            body.get("campaign_id"),
        )
    return client.upsert_order(store_id, {k: v for k, v in body.items() if k != "campaign_id"})
