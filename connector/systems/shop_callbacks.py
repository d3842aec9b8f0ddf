"""Events the connector sends back to a custom site (the generic shop contract, outbound).

WooCommerce has an API the connector writes to; a custom site has none we know. So when the
hub learns something the site should hear (a manager moved the order's deal to another stage,
a contact field the CRM owns changed), it POSTs a signed event to CONNECTOR_SHOP_CALLBACK_URL,
in the same format and with the same secret as the events the site sends us
(docs/shop-webhooks.md). The `webhook-id` stays the same on every retry of one event, so the
site can drop a re-delivery the way we do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from connector.config import Settings, required
from connector.errors import PermanentError
from connector.http import Timeouts, error_for_status, make_session, parse_retry_after, send
from connector.systems.shop import sign
from connector.systems.shop.settings import ShopSettings


class ShopCallbacks:
    """Sends signed `<entity>.<event>` events to the site; raises the typed errors the queue
    retries on (5xx, time-outs, 429) or dead-letters (other 4xx)."""

    def __init__(
        self,
        url: str,
        secret: str,
        session: requests.Session | None = None,
        timeouts: Timeouts = Timeouts(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret = secret
        self.session = session or make_session(pool_size=4)
        self.timeouts = timeouts
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> ShopCallbacks:
        shop = settings.of(ShopSettings)
        return cls(
            required(shop.callback_url, "CONNECTOR_SHOP_CALLBACK_URL"),
            required(shop.webhook_secret, "CONNECTOR_SHOP_WEBHOOK_SECRET"),
            timeouts=Timeouts.from_settings(settings),
        )

    def send_event(self, message_id: str, event_type: str, data: dict[str, Any]) -> None:
        """POSTs `{"type", "occurred_at", "data"}` signed as Standard Webhooks says."""
        now = int(self.clock())
        body = json.dumps(
            {
                "type": event_type,
                "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "data": data,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(self.secret, message_id, now, body),
        }
        response = send(
            self.session,
            "POST",
            self.url,
            data=body,
            headers=headers,
            timeout=self.timeouts.as_tuple(),
        )
        if response.ok:
            return
        message = f"shop callback {event_type}: HTTP {response.status_code}"
        error = error_for_status(
            response.status_code,
            message,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if isinstance(error, PermanentError):
            error = PermanentError(f"{message}: {response.text[:200]}", status=response.status_code)
        raise error
