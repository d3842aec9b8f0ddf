"""Settings of one emulated Bitrix24 portal: limits, credentials and the clock tests may replace."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Bitrix24Config:
    """What makes one sandbox portal differ from another.

    Defaults follow a standard (non-Enterprise) cloud portal: the leaky bucket blocks when the
    counter would exceed 50 and drains 2 requests per second; each method may spend 480 s of server
    time per 10 minutes (https://apidocs.bitrix24.com/limits.html). An Enterprise portal is
    ``rate_limit_burst=250, rate_limit_drain=5``.
    """

    # leaky bucket (per portal, shared by webhooks and the app)
    rate_limit_burst: int = 50
    rate_limit_drain: float = 2.0
    # operating time: seconds of run time per method per credential over ten one-minute baskets
    operating_limit: float = 480.0
    operating_window: float = 600.0
    # seconds charged to the operating budget per call of a method; unlisted methods are charged the
    # real time the emulator spent (near zero), so tests can make a method "heavy" on purpose
    operating_costs: dict[str, float] = field(default_factory=dict)

    # inbound webhook: /rest/{webhook_user_id}/{webhook_token}/{method}
    webhook_user_id: int = 1
    webhook_token: str = "sandboxtoken"
    scopes: tuple[str, ...] = ("crm", "user")

    # the local OAuth application installed on the portal
    client_id: str = "local.sandbox0000000000.00000000"
    client_secret: str = "sandboxclientsecret"
    access_token_lifetime: int = 3600
    refresh_token_lifetime: int = 180 * 24 * 3600
    initial_access_token: str = "sandboxaccesstoken"
    initial_refresh_token: str = "sandboxrefreshtoken"
    application_token: str = "sandboxapplicationtoken"
    app_user_id: int = 1
    app_is_admin: bool = True

    # the portal itself
    # portal domain sent in auth[domain]; None = host:port of the address the portal is reached at
    domain: str | None = None
    member_id: str = "5a4db0c8d2b5e4a0a8a1c1b2d3e4f5a6"
    # base URL the portal is reachable at (client_endpoint = public_url + "/rest/"); None = taken
    # from the host of the latest request
    public_url: str | None = None
    utc_offset_hours: int = 3
    currency: str = "RUB"
    clock: Callable[[], float] = time.time

    # outbound event delivery: each POST waits ``delivery_delay`` seconds first (the portal's queue
    # server delivers late), then gives the handler ``delivery_timeout`` seconds
    delivery_delay: float = 0.0
    delivery_timeout: float = 5.0
