"""What comes back from the providers after a send: delivery statuses, STOP replies, blocked
bots and unsubscribes. Channel packages call these from their webhook tasks or polls; the
cascade engine reads `opted_out` before every send.

All take an open connection, so a channel records an outcome in the same transaction as the
rest of its task's work.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, select, update

from connector.store.tables import cascade_sends, channel_optouts

# how far a status may move: a late "sent" never overwrites "delivered"
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "undelivered": 2, "failed": 2}


def record_status(
    connection: Connection, channel: str, provider_id: str, status: str, at: float
) -> bool:
    """Records a provider's delivery status of the message it knows as `provider_id`; false
    when no send of ours has that id (a status of a message we did not send) or the status is
    older news than the one recorded."""
    row = connection.execute(
        select(cascade_sends.c.id, cascade_sends.c.status).where(
            and_(cascade_sends.c.channel == channel, cascade_sends.c.provider_id == provider_id)
        )
    ).first()
    if row is None:
        return False
    if row.status is not None and _RANK.get(status, 0) < _RANK.get(row.status, 0):
        return False
    connection.execute(
        update(cascade_sends)
        .where(cascade_sends.c.id == row.id)
        .values(status=status, status_at=at)
    )
    return True


def opt_out(
    connection: Connection, medium: str, address: str, channel: str, reason: str, at: float
) -> None:
    """No scenario sends to `address` on `medium` again (a STOP reply, a blocked bot, an
    unsubscribe); the first reason is kept."""
    held = connection.execute(
        select(channel_optouts.c.reason).where(
            and_(channel_optouts.c.medium == medium, channel_optouts.c.address == address)
        )
    ).first()
    if held is None:
        connection.execute(
            channel_optouts.insert().values(
                medium=medium, address=address, channel=channel, reason=reason, at=at
            )
        )


def opt_in(connection: Connection, medium: str, address: str) -> None:
    """The address may be written to again (a START reply, an unblocked bot)."""
    connection.execute(
        channel_optouts.delete().where(
            and_(channel_optouts.c.medium == medium, channel_optouts.c.address == address)
        )
    )


def opted_out(connection: Connection, medium: str, address: str) -> str | None:
    """The reason `address` opted out of `medium`, or None."""
    reason: str | None = connection.execute(
        select(channel_optouts.c.reason).where(
            and_(channel_optouts.c.medium == medium, channel_optouts.c.address == address)
        )
    ).scalar()
    return reason
