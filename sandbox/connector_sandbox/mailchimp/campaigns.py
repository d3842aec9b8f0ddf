"""Campaigns, as far as e-commerce revenue needs them (issue 17).

A campaign is sent to one audience; an order or cart that names a `campaign_id` the account does
not have for the store's audience is refused as Mailchimp does: 400 "A campaign with the provided
ID does not exist in the account for this list." (mailchimp/mc-woocommerce#343 and #454,
mailchimp/mc-magento#879: the plugins then send the order again without it). Since 2024-12
Mailchimp attributes revenue itself (research/mailchimp.md 3); the emulator keeps what it is sent.

Routes: `GET /3.0/campaigns`, `GET /3.0/campaigns/<id>`, and the control route
`POST /_sandbox/campaigns` {id?, list_id?, subject?}: a campaign was sent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from connector_sandbox.mailchimp import errors
from connector_sandbox.mailchimp.state import MailchimpState, short_id, timestamp

UNKNOWN = "A campaign with the provided ID does not exist in the account for this list."


def check_campaign(state: MailchimpState, store_id: str, data: dict[str, Any]) -> None:
    """Refuses a `campaign_id` the store's audience never had (an empty one is no campaign)."""
    campaign_id = data.get("campaign_id")
    if not campaign_id:
        return
    campaign = state.campaigns.get(str(campaign_id))
    list_id = state.stores.get(store_id, {}).get("list_id")
    if campaign is None or campaign["recipients"]["list_id"] != list_id:
        raise errors.invalid_resource(UNKNOWN)


def blueprint(state: MailchimpState, respond: Any) -> Blueprint:
    bp = Blueprint("mailchimp_campaigns", __name__)

    @bp.get("/3.0/campaigns")
    def campaigns() -> Any:
        with state.lock:
            found = list(state.campaigns.values())
        return respond({"campaigns": found, "total_items": len(found)})

    @bp.get("/3.0/campaigns/<campaign_id>")
    def campaign(campaign_id: str) -> Any:
        with state.lock:
            found = state.campaigns.get(campaign_id)
            if found is None:
                raise errors.not_found()
            return respond(dict(found))

    @bp.post("/_sandbox/campaigns")
    def sent() -> Any:
        data = request.get_json(silent=True) or {}
        with state.lock:
            campaign_id = str(data.get("id") or short_id())
            list_id = data.get("list_id") or state.config["list_id"]
            state.campaigns[campaign_id] = {
                "id": campaign_id,
                "type": "regular",
                "status": "sent",
                "send_time": timestamp(),
                "recipients": {"list_id": list_id},
                "settings": {"subject_line": data.get("subject", "")},
            }
            return respond(dict(state.campaigns[campaign_id]))

    return bp
