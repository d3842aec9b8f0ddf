"""The `sync.webhook_health` task: switches WooCommerce webhooks that the shop disabled back on.

WooCommerce disables a webhook after repeated failed deliveries (more than
`woocommerce_max_webhook_delivery_failures`, 5 by default) and never retries the lost events
(research/shop_delivery_loyalty.md 1.5). The `modified_after` poll brings in what was lost;
this task makes the webhooks fast again. Only webhooks to our own delivery URL in status
`disabled` are touched: `paused` is an admin's choice.

When the shop is asked. The job fires every minute, but a run asks the shop (one `GET /webhooks`)
only when there is a reason to:

- `start`: the scheduler just started (`connector run`, `connector scheduler`). A connector that
  was down is exactly when the shop disables our hooks, so this check skips the time bucket.
- `reachable again`: our own `{PUBLIC_URL}/healthz` answers 2xx after it did not at the previous
  run (the web server or the tunnel was down while the scheduler was up).
- `watch`: the previous check found a webhook disabled or could not finish; look again every minute
  until a check finds nothing to fix.
- `interval`: nothing asked for a check for `CHECK_EVERY_SECONDS`.

Otherwise a run costs one request to our own health route and one read of the store. The probe
only adds reasons to look: a public URL that cannot be reached from inside (split DNS, no
hairpin NAT) never stops a check. Each run's result is kept in the cursor row
`woocommerce/webhook_health` (what `connector status` shows under "webhooks"); each webhook
switched back on is also an `audit` row (entity `webhook`, action `reenable`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import Engine

from connector.audit import record_write
from connector.errors import ConnectorError
from connector.sync.cursors import MAX_LENGTH, read_cursor, save_cursor
from connector.systems.woocommerce.setup import webhook_url

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext

log = logging.getLogger("connector.sync")

CHECK_EVERY_SECONDS = 900.0  # the shop is asked at least this often
PROBE_TIMEOUT_SECONDS = 3.0
HEALTH_SYSTEM, HEALTH_STREAM = "woocommerce", "webhook_health"  # the cursor row of the results

Probe = Callable[[str], bool]


@dataclass
class HealthCheck:
    """What one look at the shop's webhooks found and did."""

    ours: int = 0  # webhooks to our delivery URL
    disabled: list[str] = field(default_factory=list)  # topics found disabled
    reenabled: list[str] = field(default_factory=list)  # topics switched back on
    errors: list[str] = field(default_factory=list)


def check_webhooks(services: Services, task_id: int | None = None) -> HealthCheck:
    """Looks at our webhooks and switches the disabled ones back on (each one audited).

    A failed listing raises; a failed switch of one webhook is kept in `errors`.
    """
    settings = services.settings
    result = HealthCheck()
    if not (services.enabled("woocommerce") and settings.public_url):
        return result
    client, ours = services.woocommerce, webhook_url(settings.public_url)
    for hook in client.list_webhooks():
        if hook.get("delivery_url") != ours:
            continue
        result.ours += 1
        if hook.get("status") != "disabled":
            continue
        topic = str(hook.get("topic"))
        result.disabled.append(topic)
        body: dict[str, Any] = {"status": "active"}
        if settings.woocommerce_webhook_secret:
            body["secret"] = settings.woocommerce_webhook_secret
        try:
            client.request("PUT", f"/webhooks/{hook['id']}", json=body)
        except ConnectorError as error:
            result.errors.append(f"webhook {hook.get('id')} ({topic}): {error}")
            continue
        result.reenabled.append(topic)
        record_write(
            services.engine,
            system="woocommerce",
            entity="webhook",
            action="reenable",
            external_id=str(hook.get("id")),
            task_id=task_id,
            detail={"topic": topic, "delivery_url": ours},
        )
        log.warning(
            "WooCommerce had disabled webhook %s (%s) after failed deliveries; re-activated",
            hook.get("id"),
            topic,
        )
    return result


def reenable_webhooks(services: Services) -> list[str]:
    """Topics of our webhooks that were disabled and are active again."""
    return check_webhooks(services).reenabled


def probe_public_url(public_url: str) -> bool:
    """Whether our own health route answers 2xx through the public URL (what the shop calls)."""
    try:
        response = requests.get(
            f"{public_url.rstrip('/')}/healthz",
            timeout=PROBE_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException:
        return False
    return 200 <= response.status_code < 300


def reason_to_check(
    last: dict[str, Any] | None, now: float, reachable: bool, start: bool
) -> str | None:
    """Why this run must ask the shop, or None when the last check still stands."""
    if start:
        return "start"
    if not last or "checked_at" not in last:
        return "first check"
    if reachable and last.get("reachable") is False:
        return "reachable again"
    if last.get("found") or last.get("error"):
        return "watch"
    if now - float(last["checked_at"]) >= CHECK_EVERY_SECONDS:
        return "interval"
    return None


def run_health_check(
    services: Services,
    *,
    start: bool = False,
    task_id: int | None = None,
    probe: Probe = probe_public_url,
) -> dict[str, Any] | None:
    """One run of the job: probes our URL, checks the shop when there is a reason, keeps the
    result. Answers the saved state (None when WooCommerce or the public URL is not set)."""
    settings = services.settings
    if not (services.enabled("woocommerce") and settings.public_url):
        return None
    now = services.queue.clock()
    last = health_status(services.engine)
    reachable = probe(settings.public_url)
    if last and last.get("reachable") is not None and reachable != last["reachable"]:
        log.info("our public URL %s", "answers again" if reachable else "does not answer /healthz")
    reason = reason_to_check(last, now, reachable, start)
    if reason is None:
        if last is not None and last.get("reachable") != reachable:
            _save(services.engine, {**last, "reachable": reachable})
        return last
    state: dict[str, Any] = {
        "checked_at": round(now),
        "reason": reason,
        "reachable": reachable,
        "ours": None,
        "found": 0,
        "error": None,
        "reenabled": (last or {}).get("reenabled", []),
        "reenabled_at": (last or {}).get("reenabled_at"),
    }
    try:
        found = check_webhooks(services, task_id)
    except ConnectorError as error:  # kept and retried next minute ("watch"), not a dead letter
        log.warning("could not check the WooCommerce webhooks (%s): %s", reason, error)
        state["error"] = str(error)
    else:
        state.update(ours=found.ours, found=len(found.disabled))
        if found.errors:
            state["error"] = "; ".join(found.errors)
            log.warning("could not re-activate WooCommerce webhooks: %s", state["error"])
        if found.reenabled:
            state.update(reenabled=found.reenabled, reenabled_at=round(now))
        log.info(
            "WooCommerce webhooks checked (%s): %d of ours, %d found disabled, %d re-activated",
            reason,
            found.ours,
            len(found.disabled),
            len(found.reenabled),
        )
    return _save(services.engine, state)


# the cursor column is VARCHAR(200): the row keeps short names, `health_status` the long ones
SHORT_KEYS = {
    "checked_at": "at",
    "reason": "why",
    "reachable": "up",
    "ours": "ours",
    "found": "off",
    "error": "err",
    "reenabled": "on",
    "reenabled_at": "on_at",
}


def _short(state: dict[str, Any]) -> dict[str, Any]:
    return {SHORT_KEYS.get(key, key): value for key, value in state.items()}


def _size(state: dict[str, Any]) -> int:
    return len(json.dumps(_short(state), separators=(",", ":"), sort_keys=True))


def _fitted(state: dict[str, Any]) -> dict[str, Any]:
    """The state cut down to the cursor column: the error shortened, then fewer topic names."""
    fitted = dict(state)
    if fitted.get("error") and len(fitted["error"]) > 50:
        fitted["error"] = fitted["error"][:47] + "..."
    topics = list(fitted.get("reenabled") or [])
    kept = len(topics)
    while _size(fitted) > MAX_LENGTH and kept > 1:
        kept -= 1
        fitted["reenabled"] = topics[:kept] + [f"+{len(topics) - kept} more"]
    if _size(fitted) > MAX_LENGTH and fitted.get("error"):
        fitted["error"] = "see the log"
    return fitted


def _save(engine: Engine, state: dict[str, Any]) -> dict[str, Any]:
    state = _fitted(state)
    with engine.begin() as connection:
        save_cursor(connection, HEALTH_SYSTEM, HEALTH_STREAM, _short(state))
    return state


def health_status(engine: Engine) -> dict[str, Any] | None:
    """The last check as `connector status` shows it; None when none ran yet."""
    row = read_cursor(engine, HEALTH_SYSTEM, HEALTH_STREAM)
    if row is None:
        return None
    long_keys = {short: key for key, short in SHORT_KEYS.items()}
    return {long_keys.get(key, key): value for key, value in row.items()}


def webhook_health(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `sync.webhook_health` {"start": true} at a scheduler's start, {} every minute."""
    run_health_check(ctx.services, start=bool(payload.get("start")), task_id=ctx.task.id)
