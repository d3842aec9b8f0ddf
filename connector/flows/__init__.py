"""Business flows on canonical entities: customers, orders, carts, the way back from the CRM and
Mailchimp, and the bonus balance.

Inbound kinds (queued by webhooks.py, each with the entity's ordering key) read the source, apply
it to the hub and fan out one push task per target system; push kinds write one system each.
Each system names the kinds it handles in its own declaration (`task_handlers` in
connector/systems/<name>/system.py); `register` adds the kinds that belong to no system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.tasks import TaskRegistry


def register(registry: TaskRegistry) -> None:
    """No flow kind belongs to no system yet: the systems declare theirs."""
