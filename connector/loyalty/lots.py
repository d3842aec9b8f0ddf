"""Expiry lots: which available bonuses run out when, spending the soonest-expiring first (FEFO).

Every entry that adds available points (an offline accrual, a release after the return window,
bonuses given back, a support adjustment) is a lot with its own `expires_at`. Spending, holds,
expiries and adjustments that take never say which lot they took: under
first-expiring-first-out they took the oldest ones, so what is left of the lots expiring by a
moment is "their sum minus everything taken so far", never below zero
(research/shop_delivery_loyalty.md §5.3; Open Loyalty also expires by transfer,
`developer/points/expiration.rst`). A reversal of an order's accrual takes from that order's own
lot, not from the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from connector.store.tables import loyalty_entries

LOT_KINDS = ("accrual", "release", "adjustment")  # an adjustment that adds is a lot


@dataclass
class Lot:
    expires_at: float | None
    amount: int


def _lots(connection: Connection, customer_id: str) -> tuple[list[Lot], int]:
    """The account's lots (net of their own reversals) and everything else taken since."""
    e = loyalty_entries.c
    rows = connection.execute(
        select(e.kind, e.reverses, e.available, e.order_id, e.expires_at)
        .where(e.customer_id == customer_id, e.available != 0)
        .order_by(e.id)
    ).all()
    lots: list[Lot] = []
    by_order: dict[str, Lot] = {}
    taken = 0
    for kind, reverses, available, order_id, expires_at in rows:
        is_lot = kind in LOT_KINDS or (kind == "reversal" and reverses == "spend")
        if is_lot and available > 0:
            lot = Lot(expires_at, int(available))
            lots.append(lot)
            if order_id and kind in LOT_KINDS:
                by_order[order_id] = lot
        elif kind == "reversal" and reverses == "accrual" and order_id in by_order:
            by_order[order_id].amount += int(available)
        else:
            taken -= int(available)
    return lots, taken


def expired_by(connection: Connection, customer_id: str, moment: float) -> int:
    """Hundredths of the lots expiring by `moment` that nothing has taken yet."""
    lots, taken = _lots(connection, customer_id)
    due = sum(lot.amount for lot in lots if lot.expires_at is not None and lot.expires_at <= moment)
    return max(0, due - taken)


def expiring_between(
    connection: Connection, customer_id: str, start: float, end: float
) -> tuple[int, float | None]:
    """Hundredths that expire in (start, end] if nothing is spent first, and the first moment."""
    lots, taken = _lots(connection, customer_id)
    remaining = taken
    amount, first = 0, None
    dated = sorted((lot for lot in lots if lot.expires_at is not None), key=_expiry)
    for lot in dated:
        left = max(0, lot.amount - remaining)
        remaining = max(0, remaining - lot.amount)
        if left and start < lot.expires_at <= end:  # type: ignore[operator]
            amount += left
            first = lot.expires_at if first is None else first
    return amount, first


def _expiry(lot: Lot) -> float:
    """The sort key of a lot that expires."""
    assert lot.expires_at is not None
    return lot.expires_at
