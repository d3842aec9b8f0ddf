"""Customer analytics (issue 15): RFM scores, segments, lifetime value, average check and a
BG/NBD prediction per customer, from every paid order of every channel, written to the CRM and
Mailchimp. Rules: `mappings/analytics.yaml` (`rules.py`); docs: docs/analytics.md.

- `figures.py`: one customer's figures from their orders (pure);
- `keeper.py`: kept current by the order flow (`order_changed`) and the nightly recompute;
- `push.py`: the Bitrix24 contact fields and Mailchimp merge fields, tag and events;
- `bgnbd.py`: the prediction model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.tasks import TaskContext, TaskRegistry

RECOMPUTE = "analytics.recompute"


def recompute(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `analytics.recompute` (the nightly job): every customer's figures."""
    from connector.analytics.keeper import recompute_all

    recompute_all(ctx.services)


def register(registry: TaskRegistry) -> None:
    """Adds the analytics task kinds (connector.tasks.FEATURE_PACKAGES)."""
    from connector.analytics.push import push_bitrix24_figures, push_mailchimp_figures

    registry.register(RECOMPUTE, recompute)
    registry.register("push.bitrix24.figures", push_bitrix24_figures)
    registry.register("push.mailchimp.figures", push_mailchimp_figures)
