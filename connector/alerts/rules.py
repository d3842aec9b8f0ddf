"""The alert rules: which conditions hold now, read from the health signals (connector/observe.py).

A condition is an incident while it holds: `(rule, subject)` names it (`system_failing`,
`bitrix24`), so the evaluation opens it once, keeps it while it holds, and clears it once
when it no longer does. New dead letters are not a condition but a digest (evaluate.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.config import Settings
from connector.logs import mask
from connector.observe import Overview

SYSTEM_FAILING = "system_failing"
WEBHOOK_DISABLED = "webhook_disabled"
QUEUE_LAG = "queue_lag"
REFUSED_WEBHOOKS = "refused_webhooks"
DEAD_LETTERS = "dead_letters"  # the digest

RULES: Mapping[str, str] = {
    SYSTEM_FAILING: "a configured system's tasks fail with no success for longer than "
    "CONNECTOR_ALERTS_FAILING_MINUTES",
    WEBHOOK_DISABLED: "the shop disabled one of our webhooks (or the check cannot switch it "
    "back on)",
    QUEUE_LAG: "the oldest due task has waited longer than CONNECTOR_ALERTS_QUEUE_LAG_MINUTES",
    REFUSED_WEBHOOKS: "CONNECTOR_ALERTS_REFUSED_WEBHOOKS deliveries of one source refused as "
    "unauthentic within 5 minutes",
    DEAD_LETTERS: "new dead letters: one digest per CONNECTOR_ALERTS_DIGEST_MINUTES",
}


@dataclass(frozen=True)
class Condition:
    rule: str
    subject: str
    summary: str  # one line: what holds (masked)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


def when(moment: float | None) -> str:
    """`3 Dec 2026 08:13 UTC`: a date the phone masking of messages leaves alone."""
    if moment is None:
        return "never"
    stamp = time.gmtime(moment)
    return f"{stamp.tm_mday} {time.strftime('%b %Y %H:%M', stamp)} UTC"


def minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def conditions(overview: Overview, settings: Settings) -> list[Condition]:
    """Every condition that holds in `overview`, by the thresholds of `settings`."""
    now = overview.at
    secrets = settings.secrets()
    found: list[Condition] = []
    failing_after = settings.alerts_failing_minutes * 60
    for system in overview.systems:
        if not system.configured:
            continue
        if system.failing and system.failing_for(now) >= failing_after:
            found.append(
                Condition(
                    SYSTEM_FAILING,
                    system.name,
                    f"{system.title}: tasks failing for {minutes(system.failing_for(now))}"
                    f" (since {when(system.failing_since)};"
                    f" last success {when(system.last_ok_at)})",
                    {
                        "failing_since": system.failing_since,
                        "last_ok_at": system.last_ok_at,
                        "last_error": system.last_error,
                        "last_error_kind": system.last_error_kind,
                    },
                )
            )
        hooks = system.webhooks
        if hooks is not None and (hooks.disabled or hooks.error):
            what = (
                f"{hooks.disabled} of our webhooks found disabled by {system.title}"
                if hooks.disabled
                else f"the check of {system.title}'s webhooks failed"
            )
            found.append(
                Condition(
                    WEBHOOK_DISABLED,
                    system.name,
                    f"{what} at {when(hooks.checked_at)}"
                    + (
                        f"; switched back on: {', '.join(hooks.reenabled)}"
                        if hooks.reenabled
                        else ""
                    )
                    + (f"; error: {mask(hooks.error, secrets)}" if hooks.error else ""),
                    {
                        "disabled": hooks.disabled,
                        "error": hooks.error,
                        "checked_at": hooks.checked_at,
                    },
                )
            )
    lag = overview.queue.lag_seconds
    if lag >= settings.alerts_queue_lag_minutes * 60:
        found.append(
            Condition(
                QUEUE_LAG,
                "queue",
                f"the oldest due task ({overview.queue.oldest_due_kind}) has waited {minutes(lag)};"
                f" {overview.queue.by_state.get('queued', 0)} queued,"
                f" {overview.queue.by_state.get('running', 0)} running",
                {"lag_seconds": round(lag), "kind": overview.queue.oldest_due_kind},
            )
        )
    for source, count in sorted(overview.refusals.by_source.items()):
        if count >= settings.alerts_refused_webhooks:
            found.append(
                Condition(
                    REFUSED_WEBHOOKS,
                    source,
                    f"{count} {source} webhook deliveries refused as unauthentic in the last"
                    f" {minutes(overview.refusals.window_seconds)} (a changed secret, or probing)",
                    {"count": count},
                )
            )
    return found
