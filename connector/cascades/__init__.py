"""Trigger cascades (issue 16): scenarios in `mappings/cascades.yaml` that message a customer
step by step over email, SMS and messengers, and stop the moment she buys.

The channel contract is `channels.py`; what comes back from a provider (delivery statuses,
STOP replies, blocked bots) is recorded through `outcomes.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.tasks import TaskRegistry


def register(registry: TaskRegistry) -> None:
    """Adds the cascade task kinds (connector.tasks.FEATURE_PACKAGES)."""
    from connector.cascades.engine import (
        EVENT_KIND,
        STEP_KIND,
        TIMELINE_KIND,
        handle_event,
        handle_step,
    )
    from connector.cascades.timeline import push_timeline

    registry.register(EVENT_KIND, handle_event)
    registry.register(STEP_KIND, handle_step)
    registry.register(TIMELINE_KIND, push_timeline)
